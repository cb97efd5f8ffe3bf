"""``manage.py rebuild_stats``: recompute the daily rollup of verified service from the records."""

from django.core.management.base import BaseCommand

from services import rollups


class Command(BaseCommand):
    help = (
        "Recompute the daily rollup (DailyServiceStat) from the verified service records, in one "
        "transaction. The workflow keeps it in step; run this after writing records by other "
        "means (imports, bulk loads) or to check nothing drifted."
    )

    def handle(self, *args, **options):
        rows = rollups.rebuild()
        self.stdout.write(f"服务日汇总已重建：{rows} 行")
