"""The Celery app, used only when ``CELERY_BROKER_URL`` is set.

Worker: ``celery -A backend worker -l info``; scheduler: ``celery -A backend beat -l info``.
Configuration is read from Django settings under the ``CELERY_`` prefix; tasks are found in
each installed app's ``tasks`` module.
"""

from __future__ import annotations

import logging
import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

from backend import request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

logger = logging.getLogger(__name__)

# The message header that carries the request id to the worker.
TASK_HEADER = "request_id"

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


# The request id travels in each task's message headers (docs/operations.md, Logs): set when a
# request (or a task) queues the task, bound while the worker runs it, so the worker's lines and
# the outbox rows the task writes carry it. A task queued by beat has none and gets a fresh one.
@before_task_publish.connect
def _send_request_id(headers=None, **kwargs) -> None:
    if headers is not None and request_id.current():
        headers.setdefault(TASK_HEADER, request_id.current())


_task_tokens: dict[str, object] = {}


@task_prerun.connect
def _bind_request_id(task_id=None, task=None, **kwargs) -> None:
    value = getattr(task.request, TASK_HEADER, None) if task is not None else None
    _task_tokens[task_id] = request_id._current.set(request_id.accept(value))


@task_postrun.connect
def _unbind_request_id(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        request_id._current.reset(token)
