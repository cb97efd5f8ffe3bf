"""``manage.py run_outbox``: send notifications from the outbox, in a loop or once (cron).

The loop outlives the database: an ``OperationalError``/``InterfaceError`` (PostgreSQL restarted,
the connection was killed) closes the connection, waits ``OUTBOX_DB_RETRY_SECONDS`` doubling up to
``OUTBOX_DB_RETRY_MAX_SECONDS``, and drains again; rows it had taken stay ``sending`` until their
lease runs out and are then sent (docs/operations.md, 故障 / Faults).
"""

from __future__ import annotations

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import InterfaceError, OperationalError, close_old_connections, connections

from accounts import outbox

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "发送通知外发箱中到期的消息（微信订阅消息）。默认循环运行，SIGTERM/SIGINT 安全退出；"
        "--once 发完到期消息即退出（供 cron 使用）。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="drain what is due, then exit")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds to sleep when nothing is due (default OUTBOX_POLL_SECONDS)",
        )
        parser.add_argument(
            "--batch-size", type=int, default=None, help="rows taken at a time (OUTBOX_BATCH_SIZE)"
        )

    def handle(self, *args, once: bool, interval: float | None, batch_size: int | None, **options):
        interval = settings.OUTBOX_POLL_SECONDS if interval is None else max(interval, 0.01)
        if batch_size is not None and batch_size < 1:
            batch_size = None
        if once:
            report = outbox.drain(batch_size=batch_size)
            self.stdout.write(self._summary(report))
            return

        stop = threading.Event()

        def request_stop(signum, frame) -> None:
            stop.set()

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        self.stdout.write(f"run_outbox: started (poll every {interval:g}s)")
        self.stdout.flush()
        retry = settings.OUTBOX_DB_RETRY_SECONDS
        try:
            while not stop.is_set():
                try:
                    # A long-lived loop must not keep a connection the database has dropped.
                    close_old_connections()
                    report = outbox.drain(batch_size=batch_size, should_stop=stop.is_set)
                except (OperationalError, InterfaceError) as exc:
                    connections.close_all()
                    logger.warning(
                        "run_outbox: database unavailable (%s); retrying in %gs",
                        type(exc).__name__,
                        retry,
                        extra={"use": "outbox_database"},
                    )
                    self.stdout.write(f"run_outbox: database unavailable, retrying in {retry:g}s")
                    self.stdout.flush()
                    stop.wait(retry)
                    retry = min(retry * 2, settings.OUTBOX_DB_RETRY_MAX_SECONDS)
                    continue
                retry = settings.OUTBOX_DB_RETRY_SECONDS
                if report["taken"]:
                    self.stdout.write(self._summary(report))
                    self.stdout.flush()
                # drain() returned because nothing is due (or we are stopping): sleep till next.
                stop.wait(interval)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("run_outbox: stopped")

    @staticmethod
    def _summary(report) -> str:
        parts = ", ".join(f"{key} {value}" for key, value in sorted(report.items()) if value)
        return f"run_outbox: {parts or 'nothing due'}"
