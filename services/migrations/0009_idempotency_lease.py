"""Idempotency keys get an owner token: the attempt in flight renews its lease and its final
write is fenced on the token (services/idempotency.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("services", "0008_hours")]

    operations = [
        migrations.AddField(
            model_name="idempotencykey",
            name="owner",
            field=models.CharField(blank=True, default="", max_length=32, verbose_name="处理者"),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="locked_at",
            field=models.DateTimeField(verbose_name="租约续期时间"),
        ),
    ]
