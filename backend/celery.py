"""The Celery app, used only when ``CELERY_BROKER_URL`` is set.

Worker: ``celery -A backend worker -l info``; scheduler: ``celery -A backend beat -l info``.
Configuration is read from Django settings under the ``CELERY_`` prefix; tasks are found in
each installed app's ``tasks`` module.
"""

from __future__ import annotations

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

logger = logging.getLogger(__name__)

app = Celery("backend")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def drop_undefined_beat_entries(celery_app: Celery) -> list[str]:
    """Leave out beat entries whose task no app defines (yet); the names left out."""
    schedule = dict(celery_app.conf.beat_schedule or {})
    missing = [
        name for name, entry in schedule.items() if entry.get("task") not in celery_app.tasks
    ]
    for name in missing:
        logger.warning(
            "beat entry %s left out: task %s is not defined", name, schedule[name]["task"]
        )
        del schedule[name]
    celery_app.conf.beat_schedule = schedule
    return missing


@app.on_after_finalize.connect
def _check_beat_schedule(sender: Celery, **kwargs) -> None:
    # Only worker and beat processes import every app's tasks before finalizing; a web process
    # that merely queues a task knows a few of them and never runs beat.
    if sender.loader.worker_initialized:
        drop_undefined_beat_entries(sender)
