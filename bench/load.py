"""Load test (issue 8): Locust, headless, against gunicorn on PostgreSQL on loopback.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/load.py \\
        --users 50 --spawn-rate 10 --seconds 60

Builds its own district in a fresh database ``bench_load`` (stations with managers, villages,
teams, members, a campaign, open requests, some popular ones with few slots, and running
requests with claims waiting for check-in), starts gunicorn, runs a mix of members (feed, map,
claims, check-ins, records), managers (posting requests, verifying records) and staff (stats)
for a bounded time, prints throughput, p50/p95 per endpoint and error counts (expected 409/422
apart from real errors), then checks the database: no request has more slot-holding claims
than slots, and every counter equals its rows. Exit status 1 on real errors or oversell.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from datetime import UTC, timedelta
from pathlib import Path

# Locust patches the standard library for gevent when imported: first, before anything opens
# sockets.
import gevent
from locust import FastHttpUser, between, events, task
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

EXPECTED = (409, 422)  # business refusals: full, already claimed, already checked in ...
STATE: dict = {}
OUTCOMES: Counter = Counter()  # (endpoint, "ok" | "expected" | "error:<status>")


def build_world(*, members: int = 60, open_requests: int = 200, running: int = 40) -> dict:
    """The district the users act in; returns ids and tokens (minted in-process).

    Long on purpose: one linear script that writes the load test's world, step by step."""
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from services.models import Claim, ServiceRequest
    from tests.factories import (
        CampaignFactory,
        ClaimFactory,
        MemberFactory,
        ServiceRequestFactory,
        SpecialtyFactory,
        StationFactory,
        TeamFactory,
        TownFactory,
        UserFactory,
        VillageFactory,
    )

    rng = random.Random(8)
    now = timezone.now()
    law = SpecialtyFactory(code="law", name="法律")
    towns = [TownFactory(lat=30.0 + i * 0.02, lng=122.08 + i * 0.02) for i in range(3)]
    managers, stations = [], []
    for i in range(6):
        manager = UserFactory(username=f"manager{i}", is_station_manager=True)
        stations.append(StationFactory(town=towns[i % 3], managers=[manager]))
        managers.append(manager)
    villages = [VillageFactory(town=s.town, station=s) for s in stations for _ in range(2)]
    teams = [TeamFactory(home_town=towns[i % 3], specialties=[law]) for i in range(10)]
    member_rows = [
        MemberFactory(
            user=UserFactory(username=f"member{i}", is_member=True),
            team=teams[i % 10],
            specialties=[law],
            home_lat=30.02,
            home_lng=122.1,
        )
        for i in range(members)
    ]
    staff = UserFactory(username="staff", is_staff=True)
    campaign = CampaignFactory()

    open_ids, popular_ids = [], []
    for i in range(open_requests):
        station = stations[i % 6]
        popular = i < 10
        req = ServiceRequestFactory(
            station=station,
            village=villages[(i % 6) * 2],
            campaign=campaign,
            slots=2 if popular else rng.randint(3, 6),
            # Whole days apart per member's likely picks: fewer time conflicts than real life.
            starts_at=now + timedelta(days=1 + i, hours=rng.randint(0, 8)),
            specialties=[law],
        )
        (popular_ids if popular else open_ids).append(req.pk)

    # Running requests: each member holds a claim waiting for check-in at the request's point.
    checkins = []
    for i in range(running):
        req = ServiceRequestFactory(
            station=stations[i % 6],
            campaign=campaign,
            slots=3,
            starts_at=now - timedelta(minutes=20),
            ends_at=now + timedelta(hours=4),
        )
        member = member_rows[i % members]
        claim = ClaimFactory(request=req, member=member, status=Claim.Status.CLAIMED)
        checkins.append((member.user_id, claim.pk, req.pk, req.lat, req.lng))

    def token(user) -> str:
        return str(RefreshToken.for_user(user).access_token)

    return {
        "members": [(m.user_id, token(m.user)) for m in member_rows],
        "managers": [
            (u.pk, token(u), s.pk, s.villages.first().pk)
            for u, s in zip(managers, stations, strict=True)
        ],
        "staff": token(staff),
        "open": open_ids,
        "popular": popular_ids,
        "checkins": checkins,
        "campaign": campaign.pk,
        "requests_before": ServiceRequest.objects.count(),
    }


def _record(name: str, response) -> None:
    """Count an outcome; expected refusals are successes for Locust, counted apart."""
    status = response.status_code
    if 200 <= status < 300:
        OUTCOMES[(name, "ok")] += 1
        response.success()
    elif status in EXPECTED:
        OUTCOMES[(name, "expected")] += 1
        response.success()
    else:
        OUTCOMES[(name, f"error:{status}")] += 1
        response.failure(f"{status}: {response.text[:200]}")


class Member(FastHttpUser):
    """Browses the feed and the map, claims (contention on the popular ones), checks in, reports."""

    weight = 40
    wait_time = between(0.5, 2.0)

    def on_start(self):
        self.user_id, token = random.choice(STATE["members"])
        self.headers = {"Authorization": f"Bearer {token}"}
        self.mine = [c for c in STATE["checkins"] if c[0] == self.user_id]
        self.checked_in: list = []  # a member reports only after checking in, as the app does

    def _do(self, method, path, name, **kwargs):
        with self.client.request(
            method, path, name=name, headers=self.headers, catch_response=True, **kwargs
        ) as response:
            _record(name, response)

    @task(5)
    def feed(self):
        self._do("GET", "/api/v1/requests/recommended/?lat=30.02&lng=122.1&radius_km=30",
                 "GET requests/recommended/")  # fmt: skip

    @task(3)
    def map(self):
        self._do("GET", "/api/v1/requests/map/?bbox=121.9,29.9,122.4,30.2", "GET requests/map/")

    @task(3)
    def claim(self):
        pool = STATE["popular"] if random.random() < 0.5 else STATE["open"]
        self._do("POST", f"/api/v1/requests/{random.choice(pool)}/claims/",
                 "POST requests/{id}/claims/")  # fmt: skip

    @task(1)
    def check_in(self):
        if self.mine:
            pick = random.choice(self.mine)
            _, claim, _, lat, lng = pick
            self._do("POST", f"/api/v1/claims/{claim}/check-in/", "POST claims/{id}/check-in/",
                     json={"lat": lat, "lng": lng})  # fmt: skip
            self.checked_in.append(pick)

    @task(1)
    def record(self):
        if self.checked_in:
            _, claim, req, _, _ = random.choice(self.checked_in)
            body = {"people_served": 12, "enterprises_served": 0, "households_visited": 3,
                    "summary": "法律咨询 12 人次", "participants": [claim]}  # fmt: skip
            self._do("POST", f"/api/v1/requests/{req}/record/", "POST requests/{id}/record/",
                     json=body)  # fmt: skip


class Manager(FastHttpUser):
    """Posts needs for the station and verifies submitted records."""

    weight = 6
    wait_time = between(1.0, 3.0)

    def on_start(self):
        _, token, self.station, self.village = random.choice(STATE["managers"])
        self.headers = {"Authorization": f"Bearer {token}"}

    def _do(self, method, path, name, **kwargs):
        with self.client.request(
            method, path, name=name, headers=self.headers, catch_response=True, **kwargs
        ) as response:
            _record(name, response)
            return response

    @task(2)
    def post_request(self):
        from datetime import datetime

        start = datetime.now(UTC) + timedelta(days=random.randint(3, 60))
        body = {
            "station": self.station, "village": self.village, "campaign": STATE["campaign"],
            "title": f"送法律进村 {random.randint(1, 10**6)}", "description": "法律咨询、普法讲座",
            "slots": 4, "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=3)).isoformat(),
        }  # fmt: skip
        self._do("POST", "/api/v1/requests/", "POST requests/", json=body)

    @task(2)
    def verify(self):
        response = self._do("GET", "/api/v1/records/?status=submitted", "GET records/")
        if response.status_code == 200 and response.json()["results"]:
            record = random.choice(response.json()["results"])["id"]
            self._do("POST", f"/api/v1/records/{record}/verify/", "POST records/{id}/verify/",
                     json={"approved": True, "note": "核实无误"})  # fmt: skip

    @task(1)
    def claims(self):
        self._do("GET", "/api/v1/claims/", "GET claims/")


class Staff(FastHttpUser):
    """Reads the statistics."""

    weight = 4
    wait_time = between(1.0, 3.0)

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {STATE['staff']}"}

    def _do(self, path, name):
        with self.client.get(path, name=name, headers=self.headers, catch_response=True) as r:
            _record(name, r)

    @task(2)
    def summary(self):
        self._do("/api/v1/stats/summary/", "GET stats/summary/")

    @task(2)
    def breakdown(self):
        by = random.choice(["town", "station", "team", "campaign_kind", "month"])
        self._do(f"/api/v1/stats/breakdown/?by={by}", "GET stats/breakdown/")


def check_database() -> list[str]:
    """No oversell: claimed ≤ slots and claimed == slot-holding claim rows, for every request."""
    from django.db.models import Count, F, Q

    from services.models import Claim, ServiceRequest

    holding = Count("claims", filter=Q(claims__status__in=Claim.SLOT_HOLDING))
    rows = ServiceRequest.objects.annotate(holding=holding)
    problems = [
        f"request {r.pk}: slots={r.slots} claimed={r.claimed} holding={r.holding}"
        for r in rows.filter(Q(claimed__gt=F("slots")) | ~Q(claimed=F("holding")))
    ]
    return problems


def report(env: Environment, seconds: float) -> int:
    stats = env.stats
    print(f"\n== {stats.total.num_requests} requests in {seconds:.0f} s: "
          f"{stats.total.num_requests / seconds:.1f} req/s ==")  # fmt: skip
    print(f"{'endpoint':34} {'n':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'2xx':>6} {'409/422':>8} {'errors':>7}")  # fmt: skip
    real_errors = 0
    for (name, _method), entry in sorted(stats.entries.items()):
        ok = OUTCOMES[(name, "ok")]
        expected = OUTCOMES[(name, "expected")]
        errors = sum(v for (n, k), v in OUTCOMES.items() if n == name and k.startswith("error"))
        real_errors += errors
        print(
            f"{name:34} {entry.num_requests:>6} {entry.num_requests / seconds:>7.1f} "
            f"{entry.get_response_time_percentile(0.5):>7.0f} "
            f"{entry.get_response_time_percentile(0.95):>7.0f} {ok:>6} {expected:>8} {errors:>7}"
        )
    kinds = Counter(k for (_, k), v in OUTCOMES.items() for _ in range(v) if k.startswith("err"))
    print(f"real errors: {real_errors} {dict(kinds) if kinds else ''}")
    for error in list(stats.errors.values())[:10]:
        print(f"  {error.method} {error.name}: {error.error} ×{error.occurrences}")
    problems = check_database()
    print("database: " + ("no oversell, counters agree with claim rows" if not problems else
                          f"{len(problems)} PROBLEMS"))  # fmt: skip
    for line in problems[:20]:
        print("  " + line)
    return 1 if real_errors or problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    args = parser.parse_args()

    url = harness.bench_database_url("load")
    if not url.startswith("postgres"):
        print("note: DATABASE_URL is not PostgreSQL; running on SQLite (no row locking)")
    harness.setup_django(url)
    print("building the district ...", flush=True)
    STATE.update(build_world())
    print(f"{len(STATE['members'])} members, {len(STATE['open']) + len(STATE['popular'])} open "
          f"requests ({len(STATE['popular'])} popular, 2 slots), "
          f"{len(STATE['checkins'])} claims awaiting check-in", flush=True)  # fmt: skip

    with harness.Server(url, workers=args.workers) as server:
        env = Environment(user_classes=[Member, Manager, Staff], events=events,
                          host=f"http://127.0.0.1:{server.port}")  # fmt: skip
        runner = env.create_local_runner()
        runner.start(args.users, spawn_rate=args.spawn_rate)
        gevent.spawn_later(args.seconds, runner.quit)
        runner.greenlet.join()
    return report(env, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
