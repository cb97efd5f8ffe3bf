"""``manage.py expire_overdue``: expire overdue claims and requests; safe to run every minute."""

from django.core.management.base import BaseCommand

from services import idempotency
from services.requests.expiry import expire_overdue


class Command(BaseCommand):
    help = (
        "Expire claims not checked in by start + grace (freeing slots, promoting waitlists), "
        "waitlists of ended requests and open requests that ended unclaimed; forget idempotency "
        "keys older than a day. Idempotent: reads are also kept right without it."
    )

    def handle(self, *args, **options):
        report = expire_overdue()
        purged = idempotency.purge_expired()
        self.stdout.write(
            f"过期认领 {report.claims} · 候补转正 {report.promoted}"
            f" · 结束的候补 {report.waitlisted} · 过期需求 {report.requests}"
            f" · 自动签退 {report.checked_out}"
            f" · 清理幂等键 {purged}"
        )
