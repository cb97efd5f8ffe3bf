"""``manage.py notify_overdue_appeals``: tell 专员 and staff of overdue 诉求; safe to rerun."""

from django.core.management.base import BaseCommand

from services.enterprises.appeals import notify_overdue


class Command(BaseCommand):
    help = (
        "Notify the enterprise's 暖企专员 and staff, once per due date, of referred or "
        "in-progress 诉求 past their due date (docs/enterprises.md)."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"已提醒超期未办结的企业诉求 {notify_overdue()} 条")
