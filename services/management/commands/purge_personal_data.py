"""``manage.py purge_personal_data [--days N] [--dry-run]``: the retention job (run daily)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from services.retention import purge_personal_data


class Command(BaseCommand):
    help = (
        "Remove residents' contact name/phone and members' check-in positions of requests that "
        "ended more than --days (default PERSONAL_DATA_RETENTION_DAYS) days ago, including the "
        "copies in the audit trail; counts, states and times are kept. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"保留天数（默认 {settings.PERSONAL_DATA_RETENTION_DAYS}）",
        )
        parser.add_argument("--dry-run", action="store_true", help="只统计，不修改")

    def handle(self, *args, days: int | None, dry_run: bool, **options):
        if days is not None and days < 1:
            raise CommandError("--days 必须至少为 1。")
        report = purge_personal_data(days=days, dry_run=dry_run)
        verb = "将清除" if dry_run else "已清除"
        self.stdout.write(
            f"{verb}（{report.cutoff:%Y-%m-%d %H:%M} 前结束的需求）："
            f"联系人信息 {report.requests} 条需求 · 签到坐标 {report.claims} 条认领 · "
            f"操作记录中的副本 {report.request_events + report.claim_events} 条 · "
            f"服务记录照片 {report.attachments} 张 · "
            f"群众点单电话 {report.intakes} 条 · "
            f"群众微信账号 {report.residents} 个 · "
            f"停用企业联系人 {report.enterprises} 家"
        )
