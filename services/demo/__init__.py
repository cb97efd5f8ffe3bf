"""Demo data of the district for ``make run`` (``manage.py seed_demo``).

- ``campaigns``: the 三暖 campaigns of the years the demo touches, and the needs' titles.
- ``places``: where a demo request takes place and how it reads.
- ``requests``: 36 requests in every state, for the people who try the demo today.
- ``history``: a year of past service, for the statistics and the dashboard (planned there,
  written by ``bulk``).
- ``enterprises``: 暖企 enterprises, their 专员, visits and 诉求.
- ``intakes``: residents' needs, a triage queue for the demo manager.
- ``story``: the demo's steps through the product's writes, each at its moment.

The geography, the roster and the demo logins are each app's own ``demo.py``.
"""

from services.demo.bulk import DemoHistory
from services.demo.campaigns import CAMPAIGNS_2026, TITLES, seed_campaigns
from services.demo.enterprises import DemoEnterprises, seed_enterprises
from services.demo.history import (
    HISTORY_DAYS,
    HISTORY_SEED,
    MONTH_WEIGHT,
    UNCLAIMED_AGES,
    plan_history,
    seed_history,
)
from services.demo.intakes import DemoIntakes, seed_intakes
from services.demo.requests import PLAN, ROUND_SUFFIX, ROUNDS, DemoRequests, seed_requests

__all__ = [
    "CAMPAIGNS_2026",
    "HISTORY_DAYS",
    "HISTORY_SEED",
    "MONTH_WEIGHT",
    "PLAN",
    "ROUNDS",
    "ROUND_SUFFIX",
    "TITLES",
    "UNCLAIMED_AGES",
    "DemoEnterprises",
    "DemoHistory",
    "DemoIntakes",
    "DemoRequests",
    "plan_history",
    "seed_campaigns",
    "seed_enterprises",
    "seed_history",
    "seed_intakes",
    "seed_requests",
]
