"""The Django project. With ``CELERY_BROKER_URL`` set, the Celery app loads with Django, so
tasks queued by the web process go to that broker; without it Celery is never imported."""

import os

if os.environ.get("CELERY_BROKER_URL"):
    try:
        from backend.celery import app as celery_app
    except ImportError as exc:  # fail loudly: a broker is configured but Celery is missing
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"CELERY_BROKER_URL is set but Celery cannot be imported ({exc}); "
            "install requirements.txt"
        ) from exc

    __all__ = ["celery_app"]
