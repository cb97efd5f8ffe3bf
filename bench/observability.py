"""What the request id, the request log line and the request metrics cost one request.

Two gunicorn servers (2 workers each) on one benchmark database, the same hour, the same data:
one with the shipped settings — ``RequestIdMiddleware`` and ``RequestLogMiddleware`` on, JSON
request lines written at INFO to a file, prometheus_client in multiprocess mode as under
systemd — and one with bench/settings_bare.py, which leaves those two middlewares out (logs at
INFO too, so only the middlewares differ). The baseline endpoint of bench/matching.py, ``GET
/api/v1/campaigns/`` as a member, is timed on both over real HTTP with keep-alive, in
alternating blocks so a burst of load elsewhere hits both alike.

    .venv/bin/python bench/observability.py                  # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/observability.py
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

BASELINE = "/api/v1/campaigns/"
PASSWORD = "bench-pass-1234"  # noqa: S105 - a throwaway benchmark user


def build(database_url: str) -> None:
    harness.setup_django(database_url)
    from accounts.models import User
    from services.models import Campaign

    User.objects.create_user(username="bench-member", password=PASSWORD, is_member=True)
    kinds = [choice for choice, _ in Campaign.Kind.choices]
    for i in range(12):
        Campaign.objects.create(
            kind=kinds[i % len(kinds)],
            name=f"基准活动 {i}",
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
        )


def timed(port: int, token: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("GET", BASELINE, headers=headers)
        response = conn.getresponse()
        response.read()
        samples.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise RuntimeError(f"{BASELINE} answered {response.status}")
    conn.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=3000, help="timed requests per server")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=20000, help="in-process calls")
    args = parser.parse_args()

    database_url = harness.bench_database_url("observability")
    build(database_url)
    harness.OUT.mkdir(parents=True, exist_ok=True)
    log_path = harness.OUT / "observability-requests.log"
    log_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-prometheus-") as multiproc:
        shipped = harness.Server(
            database_url,
            env={"LOG_LEVEL": "INFO", "LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": multiproc},
            log_path=log_path,
        )
        bare = harness.Server(
            database_url,
            env={"LOG_LEVEL": "INFO", "DJANGO_SETTINGS_MODULE": "bench.settings_bare"},
            log_path=harness.OUT / "observability-bare.log",
        )
        with shipped, bare:
            token = shipped.login("bench-member", PASSWORD)
            timed(shipped.port, token, 200)  # warm-up: imports, connections, caches
            timed(bare.port, token, 200)
            samples = {"with": [], "without": []}
            block = max(1, args.n // args.rounds)
            for _ in range(args.rounds):
                samples["with"] += timed(shipped.port, token, block)
                samples["without"] += timed(bare.port, token, block)
    lines = sum(1 for _ in log_path.open(encoding="utf-8"))
    with_t = harness.Timing("with request id + log + metrics", samples["with"])
    without_t = harness.Timing("without (bench/settings_bare)", samples["without"])
    vendor = "postgresql" if database_url.startswith("postgres") else "sqlite"
    print(f"\n== GET {BASELINE} as a member, {vendor}, {len(samples['with'])} calls per server")
    print(f"{'server':<34}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
    for t in (without_t, with_t):
        mean = sum(t.samples) / len(t.samples)
        print(f"{t.name:<34}{t.p50:>9.3f}{t.p95:>9.3f}{mean:>9.3f}")
    mean_with = sum(with_t.samples) / len(with_t.samples)
    mean_without = sum(without_t.samples) / len(without_t.samples)
    print(
        f"over HTTP: p50 {with_t.p50 - without_t.p50:+.3f} ms "
        f"({with_t.p50 / without_t.p50 - 1:+.1%}), mean {mean_with - mean_without:+.3f} ms; "
        f"{lines} JSON request lines written"
    )
    cost = in_process(args.calls)
    print(f"in-process cost / HTTP p50 without: {cost / 1000 / without_t.p50:.1%}")


def in_process(calls: int) -> float:
    """The two middlewares alone around a view that does nothing, in this process: their own
    cost without the noise of HTTP (id, timer, database wrapper, one JSON line to a file, two
    histogram observations)."""
    import logging

    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve

    from backend.logging import RequestLogMiddleware
    from backend.request_id import RequestIdMiddleware

    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler))
    sink = (harness.OUT / "observability-inprocess.log").open("w", encoding="utf-8")
    handler.setStream(sink)
    logging.getLogger().setLevel(logging.INFO)
    match = resolve(BASELINE)

    def view(request):
        request.resolver_match = match
        return HttpResponse(b"{}", content_type="application/json")

    chains = {
        "bare view": view,
        "with the middlewares": RequestIdMiddleware(RequestLogMiddleware(view)),
    }
    factory = RequestFactory()
    results = {}
    for _ in range(3):  # alternate, keep the best of three
        for name, chain in chains.items():
            requests = [factory.get(BASELINE) for _ in range(calls)]
            start = time.perf_counter()
            for request in requests:
                chain(request)
            micros = (time.perf_counter() - start) / calls * 1e6
            results[name] = min(results.get(name, micros), micros)
    sink.close()
    cost = results["with the middlewares"] - results["bare view"]
    print(
        f"in process, {calls} calls: bare view {results['bare view']:.1f} µs, with the "
        f"middlewares {results['with the middlewares']:.1f} µs: {cost:.1f} µs per request"
    )
    return cost


if __name__ == "__main__":
    main()
