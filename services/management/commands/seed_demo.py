"""``manage.py seed_demo``: demo data of Dinghai District; safe to run again."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.demo import DEMO_PASSWORD, DEMO_USERS, seed_users


class Command(BaseCommand):
    help = "Load demo data (idempotent): demo logins of every role, the district's geography."

    def handle(self, *args, **options):
        with transaction.atomic():
            seed_users()
        self.stdout.write(self.style.SUCCESS("演示数据已就绪 / demo data ready"))
        self.stdout.write(f"演示账号 / demo logins (password: {DEMO_PASSWORD}):")
        for username, (name, _flags) in DEMO_USERS.items():
            self.stdout.write(f"  {username:<14} {name}")
