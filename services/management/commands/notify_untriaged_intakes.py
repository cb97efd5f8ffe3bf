"""``manage.py notify_untriaged_intakes``: tell managers of untriaged intakes; safe to rerun."""

from django.core.management.base import BaseCommand

from services.intake.sweep import notify_untriaged


class Command(BaseCommand):
    help = (
        "Notify the station's managers, once per intake, of residents' intakes still new after "
        "INTAKE_TRIAGE_HOURS (docs/intake.md)."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"已提醒超时未受理的群众点单 {notify_untriaged()} 条")
