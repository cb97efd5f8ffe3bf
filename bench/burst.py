"""Burst benchmark: a claim drive (抢单) and a feed burst at saturation, closed loop.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/burst.py
    .venv/bin/python bench/burst.py --members 2000 --concurrency 16,64   # SQLite, smaller

"请你来履职" opens a batch of tasks at a fixed hour and every member taps at once. A fresh
database (bench/harness.py) gets a district of ``--members`` members (each with their own
token, minted in-process, and a home for the feed) and, per concurrency level, 50 new requests
of 2–5 slots on a day of their own (so one level's claims never conflict in time with
another's). gunicorn then serves it with the production configuration (./gunicorn.conf.py,
``--workers`` of them, the cache in Redis as docs/operations.md sets it up: ``--redis``, a
database of its own emptied first; without Redis the throttle counters cost a claim six
statements on the database cache) and, at each concurrency, with no think time:

- the trivial endpoint (an authenticated ``GET campaigns/``): requests/s and latency;
- the claim drive: ``--drive`` members (2,000) each POST one claim on a random request of the
  level's 50: claims/s, p50/p95/p99, how many 201 / 409 / 5xx, and the check that no request
  holds more claims than slots (and that its ``claimed`` counter equals its claims);
- the feed burst: as many members open their feed (``GET requests/recommended/``).

Each throughput is printed as a ratio to the trivial endpoint's at the same concurrency in the
same run. The client runs at low priority (nice 10) so the server gets the cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

REQUESTS_PER_DRIVE = 50
HOME = (30.02, 122.10)
TARGET_RATIO = 0.5
TARGET_P99_MS = 1000.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build(members: int, levels: int) -> dict:
    """The district: members with tokens and homes, and 50 requests per concurrency level."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import User
    from members.models import Member
    from services.models import ServiceRequest
    from tests.factories import CampaignFactory, ServiceRequestFactory, StationFactory, TownFactory

    started = time.perf_counter()
    password = make_password("bench-password")
    User.objects.bulk_create(
        User(username=f"member{i}", password=password, is_member=True) for i in range(members)
    )
    users = list(User.objects.filter(is_member=True).order_by("id"))
    Member.objects.bulk_create(
        Member(user_id=u.pk, name=f"委员{i}", home_lat=HOME[0], home_lng=HOME[1])
        for i, u in enumerate(users)
    )
    tokens = [str(RefreshToken.for_user(u).access_token) for u in users]
    log(f"  {members:,} members with tokens ({time.perf_counter() - started:.0f} s)")
    town = TownFactory(lat=HOME[0], lng=HOME[1])
    station = StationFactory(town=town, lat=HOME[0], lng=HOME[1])
    campaign = CampaignFactory()
    rng = random.Random(22)
    now = timezone.now()
    drives = []
    for level in range(levels):
        ids = []
        for i in range(REQUESTS_PER_DRIVE):
            start = now + timedelta(days=2 + level * 2, hours=i % 8)
            ids.append(
                ServiceRequestFactory(
                    station=station,
                    campaign=campaign,
                    lat=HOME[0] + rng.uniform(-0.02, 0.02),
                    lng=HOME[1] + rng.uniform(-0.02, 0.02),
                    slots=rng.randint(2, 5),
                    starts_at=start,
                    ends_at=start + timedelta(hours=2),
                ).pk
            )
        drives.append(ids)
    harness.analyze()
    log(f"  built in {time.perf_counter() - started:.0f} s ({ServiceRequest.objects.count()} reqs)")
    return {"tokens": tokens, "drives": drives}


# ---------------------------------------------------------------- the closed loop


def closed_loop(port: int, calls: list[tuple[str, str, str]], concurrency: int) -> dict:
    """Every call (method, path, token) once, ``concurrency`` at a time on their own keep-alive
    connections, no think time: wall time, latencies and statuses."""
    lock = threading.Lock()
    queue = list(reversed(calls))
    latencies: list[float] = []
    statuses: Counter = Counter()
    barrier = threading.Barrier(concurrency + 1)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        barrier.wait()
        while True:
            with lock:
                if not queue:
                    break
                method, path, token = queue.pop()
            start = time.perf_counter()
            try:
                conn.request(method, path, headers={"Authorization": f"Bearer {token}"})
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            except (OSError, http.client.HTTPException):
                status = 599  # the connection broke: counted with the 5xx
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            ms = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(ms)
                statuses[status] += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]

    return {
        "per_s": len(calls) / wall,
        "p50": statistics.median(ordered),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "statuses": statuses,
    }


def oversold(request_ids: list[int]) -> int:
    """Requests holding more places than slots, or whose counter disagrees with their claims."""
    from django.db.models import Count, Q

    from services.models import Claim, ServiceRequest

    wrong = 0
    rows = ServiceRequest.objects.filter(pk__in=request_ids).annotate(
        held=Count("claims", filter=Q(claims__status=Claim.Status.CLAIMED))
    )
    for r in rows:
        wrong += r.held > r.slots or r.held != r.claimed
    return wrong


def redis_cache(url: str) -> str:
    """``url`` emptied for this run when Redis answers there, else '' (the database cache)."""
    if not url:
        return ""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).flushdb()
    except redis.RedisError as exc:
        log(f"Redis at {url} does not answer ({exc}): the database cache instead")
        return ""
    return url


def main() -> None:
    # Long on purpose: the run's steps and its printed table, in the order they happen.
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--drive", type=int, default=2_000, help="members in each claim drive")
    parser.add_argument("--concurrency", default="16,64,256")
    parser.add_argument("--workers", type=int, default=5, help="gunicorn workers")
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/14",
        help="the cache (throttle counters) as in production; '' for the database cache",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    url = harness.bench_database_url(f"burst_{args.members}")
    vendor = "postgresql" if url.startswith("postgres") else "sqlite"
    log(f"database: {url.split('@')[-1]}  members: {args.members:,}")
    harness.setup_django(url)
    world = build(args.members, len(levels))
    from django.db import connections

    connections.close_all()
    os.nice(10)  # the client yields the cores to the server
    rng = random.Random(7)
    tokens = world["tokens"]
    rows = []
    cache = redis_cache(args.redis)
    log(f"cache: {cache or 'the database table (no Redis)'}")
    server = harness.Server(
        url,
        workers=args.workers,
        # The production configuration (./gunicorn.conf.py, Redis for the cache), its access
        # log off: stdout is this report's.
        env={"GUNICORN_ACCESS_LOG": "", **({"REDIS_URL": cache} if cache else {})},
        log_path=harness.OUT / "burst.log",
        start_timeout=180,
    )
    with server:
        for level, drive in zip(levels, world["drives"], strict=True):
            members = rng.sample(range(len(tokens)), min(args.drive, len(tokens)))
            trivial = closed_loop(
                server.port,
                [("GET", "/api/v1/campaigns/", tokens[m]) for m in members],
                level,
            )
            claims = closed_loop(
                server.port,
                [
                    ("POST", f"/api/v1/requests/{rng.choice(drive)}/claims/", tokens[m])
                    for m in members
                ],
                level,
            )
            feed = closed_loop(
                server.port,
                [("GET", "/api/v1/requests/recommended/", tokens[m]) for m in members],
                level,
            )
            rows.append((level, trivial, claims, feed, oversold(drive)))
            connections.close_all()
            log(f"  concurrency {level}: done")

    print(
        f"\nburst — {vendor}, {'Redis' if cache else 'database'} cache, {args.members:,} members, "
        f"{args.workers} gunicorn workers, "
        f"{args.drive:,} members per drive, {REQUESTS_PER_DRIVE} requests of 2–5 slots"
    )
    print(
        f"{'conc':>5} {'endpoint':<14}{'req/s':>8}{'×trivial':>10}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}  statuses"
    )
    verdicts = []
    for level, trivial, claims, feed, wrong in rows:
        for name, r in (("trivial", trivial), ("claim drive", claims), ("feed burst", feed)):
            ratio = r["per_s"] / trivial["per_s"]
            codes = " ".join(f"{k}:{v}" for k, v in sorted(r["statuses"].items()))
            print(
                f"{level:>5} {name:<14}{r['per_s']:>8.1f}{ratio:>10.2f}{r['p50']:>9.1f}"
                f"{r['p95']:>9.1f}{r['p99']:>9.1f}  {codes}"
            )
        five = sum(v for k, v in claims["statuses"].items() if k >= 500)
        five += sum(v for k, v in feed["statuses"].items() if k >= 500)
        verdicts.append(
            f"concurrency {level}: claims {claims['per_s'] / trivial['per_s']:.2f}x, feed "
            f"{feed['per_s'] / trivial['per_s']:.2f}x (targets ≥ {TARGET_RATIO}), claim p99 "
            f"{claims['p99']:.0f} ms, 5xx {five}, oversold {wrong}"
        )
    print("\n" + "\n".join(verdicts))
    print(
        f"targets: claim drive and feed burst ≥ {TARGET_RATIO:.0%} of the trivial endpoint; "
        f"claim p99 ≤ {TARGET_P99_MS:.0f} ms at 256; 0 5xx; 0 oversold"
    )
    print(json.dumps({"oversold": sum(r[4] for r in rows)}))


if __name__ == "__main__":
    main()
