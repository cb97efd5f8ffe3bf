"""``manage.py create_open311_key STATION_ID --name NAME [--by USERNAME]``: issue an Open311 key."""

from django.core.management.base import BaseCommand, CommandError

from accounts.errors import ApplicationError
from accounts.models import User
from stations.api_keys import api_key_issue
from stations.models import Station


class Command(BaseCommand):
    help = (
        "Issue an Open311 API key for a station and print it once (only its hash is stored). "
        "Posts made with the key act as the issuing staff account (--by; default: the first "
        "active superuser)."
    )

    def add_arguments(self, parser):
        parser.add_argument("station_id", type=int, help="驿站/工作室 ID")
        parser.add_argument("--name", required=True, help="密钥用途，如“12345 热线对接”")
        parser.add_argument("--by", dest="username", help="签发人（机关工作人员）的用户名")

    def handle(self, *args, station_id: int, name: str, username: str | None, **options):
        station = Station.objects.filter(pk=station_id).first()
        if station is None:
            raise CommandError(f"驿站 {station_id} 不存在。")
        if not station.active:
            raise CommandError(f"驿站“{station.name}”已停用。")
        if username:
            issuer = User.objects.filter(username=username).first()
            if issuer is None:
                raise CommandError(f"用户 {username} 不存在。")
        else:
            issuer = User.objects.filter(is_superuser=True, is_active=True).order_by("id").first()
            if issuer is None:
                raise CommandError("没有可用的超级管理员账号，请用 --by 指定签发人。")
        try:
            issued = api_key_issue(station=station, name=name, created_by=issuer)
        except ApplicationError as exc:
            raise CommandError(str(exc.detail)) from None
        self.stdout.write(
            f"驿站“{station.name}”的 Open311 密钥“{issued.row.name}”"
            f"（前缀 {issued.row.prefix}，签发人 {issuer.username}）："
        )
        self.stdout.write(issued.key)
        self.stderr.write("密钥只显示这一次，请立即保存；系统只保存其摘要。")
