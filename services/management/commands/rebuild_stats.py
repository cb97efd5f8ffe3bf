"""``manage.py rebuild_stats``: recompute the statistics rollups from the requests and records."""

from django.core.management.base import BaseCommand

from services import rollups


class Command(BaseCommand):
    help = (
        "Restamp the stored durations (time to first claim, time to verification) and recompute "
        "every statistics rollup (DailyServiceStat, RequestStat, ClaimTimeStat, VerifyTimeStat, "
        "TeamStat, MemberStat, MapCellStat) "
        "from the requests and records, in one transaction. The workflow keeps them in step; run "
        "this after writing requests or records by other means (imports, bulk loads) or to check "
        "nothing drifted."
    )

    def handle(self, *args, **options):
        rebuilt = rollups.rebuild()
        self.stdout.write(f"服务日汇总已重建：{rebuilt.daily} 行")
        self.stdout.write(
            f"需求汇总 {rebuilt.requests} 行 · 首次认领用时分布 {rebuilt.claim_times} 行 · "
            f"核实用时分布 {rebuilt.verify_times} 行 · 重新记录用时 {rebuilt.stamped} 条"
        )
        self.stdout.write(
            f"团队汇总 {rebuilt.team_stats} 行 · 委员汇总 {rebuilt.member_stats} 行 · "
            f"地图网格汇总 {rebuilt.map_cells} 行"
        )
