"""``manage.py import_roster FILE``: the API's roster import, from the command line."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.errors import ApplicationError
from accounts.models import User
from members import roster


class Command(BaseCommand):
    help = (
        "Import an .xlsx member roster (姓名, 手机号, 界别, 团队, 专长 ...), all rows or none; "
        "prints the one-time activation codes of new accounts."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the .xlsx roster")
        parser.add_argument(
            "--actor", help="username recorded as the importer in the audit trail (optional)"
        )

    def handle(self, *args, file: str, actor: str | None = None, **options):
        importer = None
        if actor:
            importer = User.objects.filter(username=actor).first()
            if importer is None:
                raise CommandError(f"用户 {actor} 不存在。")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"找不到文件：{path}")
        try:
            with path.open("rb") as stream:
                result = roster.import_roster(
                    stream=stream, filename=path.name, size=path.stat().st_size, actor=importer
                )
        except ApplicationError as exc:
            lines = [f"导入失败（{exc.code}）：{exc.detail}"]
            for field, messages in (exc.fields or {}).items():
                lines.extend(f"  {field}: {message}" for message in messages)
            raise CommandError("\n".join(lines)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"导入完成：{result.rows} 行，新建 {result.created}，更新 {result.updated}。"
            )
        )
        if result.accounts:
            self.stdout.write("新账号的一次性激活码（只显示这一次，请交给本人）：")
            for account in result.accounts:
                self.stdout.write(
                    f"  第 {account.row} 行  {account.name}  {account.phone}  "
                    f"{account.activation_code}  有效期至 "
                    f"{account.activation_expires_at:%Y-%m-%d %H:%M}"
                )
