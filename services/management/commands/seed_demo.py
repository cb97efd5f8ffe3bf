"""``manage.py seed_demo``: demo data of Dinghai District; safe to run again."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.demo import DEMO_PASSWORD, DEMO_USERS, seed_users
from members.demo import attach_demo_member, seed_roster
from services.demo import seed_enterprises, seed_history, seed_intakes, seed_requests
from stations.demo import DEMO_STATION, DEMO_VILLAGE, attach_demo_users, seed_geography


class Command(BaseCommand):
    help = (
        "Load demo data (idempotent): demo logins of every role, the district's towns, villages "
        "and stations, specialties, teams, members, campaigns, service requests, residents' "
        "needs (群众点单) and a year of past service (records, duty points) for the statistics "
        "and the dashboard."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            users = seed_users()
            geography = seed_geography()
            roster = seed_roster(geography.towns)
            attach_demo_users(
                geography, manager=users["demo_manager"], liaison=users["demo_liaison"]
            )
            member = attach_demo_member(roster, user=users["demo_member"])
            # The history first: it depends on the roster and the day alone, and the demo
            # requests, made through the writes, then hand out only members free at their times.
            history = seed_history()
            requests = seed_requests()
            intakes = seed_intakes()
            enterprises = seed_enterprises()
        self.stdout.write(self.style.SUCCESS("演示数据已就绪 / demo data ready"))
        self.stdout.write(
            f"  镇街 {len(geography.towns)} · 村社 {len(geography.villages)} · "
            f"驿站/工作室 {len(geography.stations)} · 专长 {len(roster.specialties)} · "
            f"团队 {len(roster.teams)} · 委员 {len(roster.members) + 1} · 需求 {requests.total} · "
            f"群众点单 {intakes.total} · 暖企企业 {enterprises.total}"
        )
        self.stdout.write(
            f"  近一年服务历史 / a year of history: 新增需求 {history.requests} · "
            f"服务记录 {history.records}（已核实 {history.verified}）· 积分 {history.points} 条"
        )
        self.stdout.write(f"演示账号 / demo logins (password: {DEMO_PASSWORD}):")
        where = {
            "demo_manager": f"管理 {DEMO_STATION}",
            "demo_liaison": f"联络 {DEMO_VILLAGE[0]}{DEMO_VILLAGE[1]}",
            "demo_member": f"{member.team.name if member.team else ''}",
        }
        for username, (name, _flags) in DEMO_USERS.items():
            self.stdout.write(f"  {username:<14} {name}  {where.get(username, '')}".rstrip())
