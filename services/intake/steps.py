"""Subscribe messages to mini-program residents as their request moves (docs/intake.md).

The request's own writes (claims, check-in, verification) know nothing about intakes, and
should not: this module listens to the audit trail instead. Every state change leaves an
``Event`` inside its transaction (``accounts.audit.record_event``); when one of the verbs below
is written for a request that residents' intakes point at, the residents who came through the
mini-program get an ``intake_step`` notice in the same transaction, once per step (the
notice's dedupe key).
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Event, Notification
from services import notifications
from services.models import Intake

# Event verb → (the step the resident reads, the notice's text).
STEPS = {
    "claim_created": ("已有委员认领", "已有政协委员认领您的诉求，将按约定时间为您服务。"),
    "claim_promoted": ("已有委员认领", "已有政协委员认领您的诉求，将按约定时间为您服务。"),
    "request_started": ("服务中", "委员已到达现场签到，正在为您服务。"),
    "request_verified": ("已完成", "服务已完成并经驿站核实，欢迎您对本次服务进行评价。"),
}


def _request_id(event: Event) -> int | None:
    if event.verb.startswith("claim_"):
        value = (event.payload or {}).get("request")
        return value if isinstance(value, int) else None
    return int(event.object_id) if event.object_id.isdigit() else None


@receiver(post_save, sender=Event, dispatch_uid="intake_steps")
def tell_residents(sender, instance: Event, created: bool, **kwargs) -> None:
    if not created or instance.verb not in STEPS:
        return
    request_id = _request_id(instance)
    if request_id is None:
        return
    step, body = STEPS[instance.verb]
    intakes = Intake.objects.filter(
        request_id=request_id,
        resident__isnull=False,
        status__in=[Intake.Status.ACCEPTED, Intake.Status.MERGED],
    ).select_related("resident")
    for intake in intakes:
        key = f"intake_step:{intake.pk}:{step}"
        if not Notification.objects.filter(dedupe_key=key).exists():
            notifications.intake_step(intake, step=step, body=body, key=step)
