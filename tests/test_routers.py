"""The read replica router's rules (backend/routers.py), on any database: which reads may go to
the replica, and that everything else (writes, workflow reads, reads in a transaction, users and
tokens) stays on the primary. The real standby is tested in test_replica.py."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from accounts.models import Notification, User
from backend import routers
from backend.routers import ReplicaRouter, is_reporting_route, replica_reads
from members.models import Member
from services.models import Claim, DailyServiceStat, ServiceRequest
from stations.models import Station

router = ReplicaRouter()


@pytest.fixture
def with_replica(settings):
    """A configured replica alias, as DATABASE_REPLICA_URL makes one (no query is sent)."""
    if "replica" not in settings.DATABASES:
        settings.DATABASES = {**settings.DATABASES, "replica": settings.DATABASES["default"]}


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.parametrize("model", [ServiceRequest, Claim, DailyServiceStat, Station, Member])
def test_reporting_reads_of_domain_models_go_to_the_replica(with_replica, model):
    with replica_reads():
        assert router.db_for_read(model) == "replica"
    assert router.db_for_read(model) == "default"


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.parametrize("model", [User, Notification])
def test_users_tokens_and_the_outbox_are_read_on_the_primary(with_replica, model):
    with replica_reads():
        assert router.db_for_read(model) == "default"


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_read_inside_a_transaction_stays_on_the_primary(with_replica, db):
    with replica_reads(), transaction.atomic():
        # (pytest-django's test transaction is one too: every non-transactional test reads the
        # primary, which is why the statistics tests pass with the router on.)
        assert router.db_for_read(ServiceRequest) == "default"


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.parametrize("model", [ServiceRequest, Claim, User])
def test_writes_always_go_to_the_primary(with_replica, model):
    with replica_reads():
        assert router.db_for_write(model) == "default"


def test_without_a_replica_everything_reads_the_primary(settings):
    if "replica" in settings.DATABASES:
        pytest.skip("a replica is configured in this run (test_replica.py covers it)")
    with replica_reads():
        assert router.db_for_read(ServiceRequest) == "default"


def test_nothing_is_migrated_on_the_replica():
    assert router.allow_migrate("replica", "services") is False
    assert router.allow_migrate("default", "services") is True


@pytest.mark.parametrize(
    ("method", "route", "reporting"),
    [
        ("GET", "api/v1/stats/summary/", True),
        ("GET", "api/v1/stats/export/", True),
        ("HEAD", "api/v1/stats/breakdown/", True),
        ("GET", "dashboard/", True),
        ("GET", "dashboard/export/", True),
        ("GET", "open311/v2/requests.json", True),
        ("POST", "open311/v2/requests.json", False),
        ("POST", "dashboard/login/", False),
        ("GET", "api/v1/requests/", False),
        ("GET", "api/v1/claims/<int:pk>/", False),
        ("GET", "api/v1/feed/", False),
        ("GET", "api/v1/me/", False),
        ("GET", "admin/", False),
    ],
)
def test_which_routes_read_the_replica(method, route, reporting):
    assert is_reporting_route(method, route) is reporting


def probe(request):
    return JsonResponse({"replica_reads": routers._reporting.get()})


urlpatterns = [
    path("api/v1/stats/probe/", probe),
    path("api/v1/requests/probe/", probe),
    path("open311/v2/probe.json", csrf_exempt(probe)),
]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("method", "url", "marked"),
    [
        ("get", "/api/v1/stats/probe/", True),
        ("get", "/open311/v2/probe.json", True),
        ("post", "/open311/v2/probe.json", False),
        ("get", "/api/v1/requests/probe/", False),
    ],
)
def test_the_middleware_marks_the_view_of_a_reporting_get(client, db, method, url, marked):
    response = getattr(client, method)(url)
    assert response.json() == {"replica_reads": marked}
    assert routers._reporting.get() is False  # gone once the request is answered
