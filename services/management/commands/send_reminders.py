"""``manage.py send_reminders``: queue reminders for places starting soon; safe to rerun."""

from django.core.management.base import BaseCommand

from services.requests.reminders import send_reminders


class Command(BaseCommand):
    help = (
        "Queue a reminder (outbox) for every claimed place starting within "
        "SERVICES_REMINDER_HOURS; each claim gets one reminder, however often this runs."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"已生成提醒 {send_reminders()} 条")
