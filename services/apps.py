from django.apps import AppConfig


class ServicesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "services"
    verbose_name = "服务需求与记录"

    def ready(self) -> None:
        # Residents' subscribe messages follow the audit trail (services/intake/steps.py).
        from services.intake import steps  # noqa: F401
