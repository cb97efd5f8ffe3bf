"""factory_boy factories for every model the tests build."""

from __future__ import annotations

import factory

from accounts.models import User
from members.models import Member, Specialty, Team
from stations.models import Station, Town, Village

PASSWORD = "Correct-Horse-9"

# Dinghai District centre; factories scatter things a few kilometres around it.
CENTRE_LAT = 30.0194
CENTRE_LNG = 122.1028


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    name = factory.Sequence(lambda n: f"用户{n}")
    phone = factory.Sequence(lambda n: f"139{n:08d}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TownFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Town

    name = factory.Sequence(lambda n: f"测试{n}街道")
    lat = CENTRE_LAT
    lng = CENTRE_LNG


class StationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Station
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"测试驿站{n}")
    kind = Station.Kind.CONSULTATION
    town = factory.SubFactory(TownFactory)
    address = "定海区测试路 1 号"
    lat = factory.SelfAttribute("town.lat")
    lng = factory.SelfAttribute("town.lng")

    @factory.post_generation
    def managers(self, create, extracted, **kwargs):
        if create and extracted:
            self.managers.add(*extracted)


class VillageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Village
        skip_postgeneration_save = True

    town = factory.SubFactory(TownFactory)
    name = factory.Sequence(lambda n: f"测试{n}村")
    lat = factory.LazyAttribute(lambda o: o.town.lat + 0.01)
    lng = factory.LazyAttribute(lambda o: o.town.lng + 0.01)
    station = None

    @factory.post_generation
    def liaisons(self, create, extracted, **kwargs):
        if create and extracted:
            self.liaisons.add(*extracted)


class SpecialtyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Specialty
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"spec{n}")
    name = factory.Sequence(lambda n: f"专长{n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"测试委员团队{n}")
    sector = "法律界"
    home_town = factory.SubFactory(TownFactory)
    home_lat = factory.SelfAttribute("home_town.lat")
    home_lng = factory.SelfAttribute("home_town.lng")

    @factory.post_generation
    def specialties(self, create, extracted, **kwargs):
        if create and extracted:
            self.specialties.add(*extracted)


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, is_member=True)
    name = factory.SelfAttribute("user.name")
    phone = factory.SelfAttribute("user.phone")
    sector = "法律界"
    team = None
    home_lat = CENTRE_LAT
    home_lng = CENTRE_LNG

    @factory.post_generation
    def specialties(self, create, extracted, **kwargs):
        if create and extracted:
            self.specialties.add(*extracted)


# ------------------------------------------------ services: campaigns, requests, claims
from datetime import timedelta  # noqa: E402

from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402

from services.models import Campaign, Claim, ServiceRequest  # noqa: E402


class CampaignFactory(factory.django.DjangoModelFactory):
    """A campaign running from a year ago to a year ahead, so any test date falls inside."""

    class Meta:
        model = Campaign

    kind = Campaign.Kind.WARM_VILLAGE
    name = factory.Sequence(lambda n: f"测试活动{n}")
    starts_on = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=365))
    ends_on = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=365))
    target_served = 1000


class ServiceRequestFactory(factory.django.DjangoModelFactory):
    """An open request at its station, starting in two days, three hours long."""

    class Meta:
        model = ServiceRequest
        skip_postgeneration_save = True

    station = factory.SubFactory(StationFactory)
    village = None
    campaign = factory.SubFactory(CampaignFactory)
    title = factory.Sequence(lambda n: f"测试需求{n}")
    description = "送法律进村：法律咨询与普法讲座。"
    lat = factory.SelfAttribute("station.lat")
    lng = factory.SelfAttribute("station.lng")
    address = "定海区测试路 2 号"
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=2))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=3))
    slots = 5
    claimed = 0
    status = ServiceRequest.Status.OPEN
    contact_name = "张联系"
    contact_phone = "13900009999"

    @factory.post_generation
    def specialties(self, create, extracted, **kwargs):
        if create and extracted:
            self.specialties.add(*extracted)


class ClaimFactory(factory.django.DjangoModelFactory):
    """A claim; slot-holding ones bump the request's counter (and mark it full) like the
    workflow does, so factories never build a request whose counter disagrees with its rows."""

    class Meta:
        model = Claim
        skip_postgeneration_save = True

    request = factory.SubFactory(ServiceRequestFactory)
    member = factory.SubFactory(MemberFactory)
    team = factory.SelfAttribute("member.team")
    status = Claim.Status.CLAIMED
    claimed_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status in Claim.SLOT_HOLDING else None
    )
    check_in_by = factory.LazyAttribute(
        lambda o: max(o.request.starts_at, o.claimed_at) if o.claimed_at else None
    )

    @factory.post_generation
    def _count(obj, create, extracted, **kwargs):
        if create and obj.status in Claim.SLOT_HOLDING:
            ServiceRequest.objects.filter(pk=obj.request_id).update(claimed=F("claimed") + 1)
            ServiceRequest.objects.filter(
                pk=obj.request_id, status=ServiceRequest.Status.OPEN, claimed__gte=F("slots")
            ).update(status=ServiceRequest.Status.FULL)
            obj.request.refresh_from_db()


# ------------------------------------------------ services: records and duty points
from services.models import PointEntry, PointRule, ServiceRecord  # noqa: E402


class ServiceRecordFactory(factory.django.DjangoModelFactory):
    """A verified record of a service three days ago, its place and day copied from the request
    as submission does. ``participants=[claims]`` sets the participants and their count."""

    class Meta:
        model = ServiceRecord
        skip_postgeneration_save = True

    request = factory.SubFactory(
        ServiceRequestFactory,
        status=ServiceRequest.Status.VERIFIED,
        starts_at=factory.LazyFunction(lambda: timezone.now() - timedelta(days=3)),
    )
    people_served = 10
    enterprises_served = 0
    households_visited = 3
    summary = "法律咨询 10 人次，走访 3 户。"
    status = ServiceRecord.Status.VERIFIED
    verified_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == ServiceRecord.Status.VERIFIED else None
    )
    station = factory.SelfAttribute("request.station")
    town = factory.SelfAttribute("request.station.town")
    campaign = factory.SelfAttribute("request.campaign")
    campaign_kind = factory.SelfAttribute("request.campaign.kind")
    service_date = factory.LazyAttribute(lambda o: timezone.localdate(o.request.starts_at))

    @factory.post_generation
    def participants(self, create, extracted, **kwargs):
        if create and extracted:
            self.participants.set(extracted)
            self.participants_count = len(extracted)
            ServiceRecord.objects.filter(pk=self.pk).update(participants_count=len(extracted))


class PointRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PointRule
        django_get_or_create = ("kind",)

    kind = PointRule.Kind.PARTICIPATION
    code = factory.LazyAttribute(lambda o: o.kind.replace("_", "-"))
    name = factory.LazyAttribute(lambda o: PointRule.Kind(o.kind).label)
    points = 5


class PointEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PointEntry

    member = factory.SubFactory(MemberFactory)
    rule = factory.SubFactory(PointRuleFactory)
    points = factory.SelfAttribute("rule.points")
    reason = factory.LazyAttribute(lambda o: o.rule.name)
    record = factory.SubFactory(ServiceRecordFactory)
    service_date = factory.SelfAttribute("record.service_date")
    team = factory.SelfAttribute("member.team")
