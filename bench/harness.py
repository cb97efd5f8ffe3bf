"""What every benchmark shares: a fresh database, a real server, latency samples, ratios.

A benchmark builds its own data in a database it creates (a SQLite file under bench/out/, or a
PostgreSQL database ``bench_<name>`` beside the one ``DATABASE_URL`` names), starts gunicorn on
loopback against it, and measures over real HTTP with keep-alive. Every figure is printed next
to a baseline measured in the same run, since absolute milliseconds depend on the machine.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def bench_database_url(name: str, *, keep: bool = False) -> str:
    """A URL for a fresh benchmark database named after ``name`` (created empty); with
    ``keep``, an existing one is left as it is (to re-measure without rebuilding)."""
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(base)
        db = f"bench_{name}"
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone()
            if not (keep and exists):
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{db}"')
        return urlunsplit(parts._replace(path=f"/{db}"))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.sqlite3"
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def setup_django(database_url: str) -> None:
    """Configure Django in this process against the benchmark database and migrate it."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-any-real-use")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn on loopback against the benchmark database; a context manager."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 2,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        start_timeout: float = 30,
    ) -> None:
        self.port = free_port()
        # Seconds gunicorn may take to answer /healthz (its workers import Django first).
        self.start_timeout = start_timeout
        self.database_url = database_url
        self.workers = workers
        # Extra environment (e.g. another settings module), and a file for the server's stderr.
        self.extra_env = env or {}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": os.environ.get(
                "SECRET_KEY", "bench-only-secret-key-not-for-any-real-use"
            ),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            # Benchmarks hammer one user: keep throttles out of the measurement.
            "THROTTLE_LOGIN": "100000/min",
            **self.extra_env,
        }
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab") if self.log_path else None
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "backend.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stderr=log,
        )
        if log is not None:
            log.close()  # the child holds its own descriptor
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            try:
                status, _ = self.get("/healthz")
                if status == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)  # graceful: in-flight requests finish
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def login(self, username: str, password: str) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        body = json.dumps({"username": username, "password": password})
        conn.request(
            "POST", "/api/v1/auth/token/", body, headers={"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        data = json.loads(response.read())
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"login failed: {response.status} {data}")
        return data["access"]


@dataclass
class Timing:
    """Latency samples of one endpoint, in milliseconds."""

    name: str
    samples: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(server: Server, name: str, paths: list[str], token: str, *, n: int = 200) -> Timing:
    """Time ``n`` sequential GETs cycling through ``paths`` on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    for path in paths[: min(len(paths), 20)]:  # warm-up: connections, caches, imports
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
    samples = []
    for i in range(n):
        path = paths[i % len(paths)]
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        samples.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise RuntimeError(f"{name}: {path} answered {response.status}")
    conn.close()
    return Timing(name, samples)


def print_ratios(title: str, baseline: Timing, timings: list[Timing]) -> None:
    """One table: p50/p95 of each endpoint and its ratio to the baseline."""
    print(f"\n{title}")
    print(f"{'endpoint':<28}{'p50 ms':>9}{'p95 ms':>9}{'p50 ×base':>11}{'p95 ×base':>11}")
    for t in [baseline, *timings]:
        print(
            f"{t.name:<28}{t.p50:>9.2f}{t.p95:>9.2f}"
            f"{t.p50 / baseline.p50:>11.2f}{t.p95 / baseline.p95:>11.2f}"
        )


# ---------------------------------------------------------------- bulk data and mixed timings


def bulk_insert(model, columns: list[str], rows, *, batch: int = 20000) -> int:
    """Insert plain tuples (values of ``columns``, in order) fast: COPY on PostgreSQL,
    executemany on SQLite. Concrete fields not named get their default once (auto_now fields:
    now; nullable ones: NULL), so generating a row costs only the values that vary."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    fields = {f.column: f for f in model._meta.concrete_fields}
    unknown = set(columns) - set(fields)
    if unknown:
        raise ValueError(f"{model.__name__}: unknown columns {sorted(unknown)}")
    extra_columns, extra_values = [], []
    for column, f in fields.items():
        if column in columns or f.primary_key or f.generated:
            continue  # generated columns (ServiceRequest.grid) are the database's to fill
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = now
        elif f.has_default():
            value = f.get_default()
        elif f.null:
            value = None
        else:
            value = ""
        extra_columns.append(column)
        extra_values.append(f.get_db_prep_save(value, connection))
    names = [*columns, *extra_columns]
    table = connection.ops.quote_name(model._meta.db_table)
    quoted = ", ".join(connection.ops.quote_name(c) for c in names)
    extra = tuple(extra_values)
    count = 0
    postgres = connection.vendor == "postgresql"
    # SQLite stores datetimes as text in Django's own format: adapt those columns like the ORM.
    adapt = [
        i
        for i, c in enumerate(columns)
        if not postgres and fields[c].get_internal_type() == "DateTimeField"
    ]
    with connection.cursor() as cursor:
        if postgres:
            with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, *extra))
                    count += 1
        else:
            sql = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(names))})"
            chunk: list[tuple] = []
            for row in rows:
                if adapt:
                    row = list(row)
                    for i in adapt:
                        row[i] = connection.ops.adapt_datetimefield_value(row[i])
                chunk.append((*row, *extra))
                if len(chunk) >= batch:
                    cursor.executemany(sql, chunk)
                    count += len(chunk)
                    chunk = []
            if chunk:
                cursor.executemany(sql, chunk)
                count += len(chunk)
    return count


def reset_sequences(*models) -> None:
    """After inserting explicit ids: move PostgreSQL's id sequences past them (SQLite needs
    nothing)."""
    from django.core.management.color import no_style
    from django.db import connection

    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def analyze() -> None:
    """Refresh planner statistics after a bulk load (and the visibility map on PostgreSQL)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            connection.ensure_connection()
            old = connection.connection.autocommit
            connection.connection.autocommit = True
            try:
                cursor.execute("VACUUM ANALYZE")
            finally:
                connection.connection.autocommit = old
        else:
            cursor.execute("ANALYZE")


@dataclass
class Endpoint:
    """An endpoint to time: a name and the (path, token) calls to cycle through."""

    name: str
    calls: list[tuple[str, str]]


def measure_interleaved(
    server: Server, endpoints: list[Endpoint], *, n: int = 200, rounds: int = 10
) -> list[Timing]:
    """``n`` timed GETs per endpoint, taken in ``rounds`` alternating blocks, so a burst of
    load from elsewhere on the machine hits every endpoint alike rather than one of them."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

    def call(path: str, token: str) -> tuple[int, float]:
        start = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - start) * 1000

    for endpoint in endpoints:  # warm-up: connections, caches, imports
        for path, token in endpoint.calls[:20]:
            call(path, token)
    samples: dict[str, list[float]] = {e.name: [] for e in endpoints}
    per_round = max(1, n // rounds)
    index = 0
    while any(len(s) < n for s in samples.values()):
        for endpoint in endpoints:
            for j in range(per_round):
                if len(samples[endpoint.name]) >= n:
                    break
                path, token = endpoint.calls[(index + j) % len(endpoint.calls)]
                status, ms = call(path, token)
                if status != 200:
                    raise RuntimeError(f"{endpoint.name}: {path} answered {status}")
                samples[endpoint.name].append(ms)
        index += per_round
    conn.close()
    return [Timing(e.name, samples[e.name]) for e in endpoints]
