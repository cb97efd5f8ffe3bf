"""Every operation of the committed openapi.yaml, fed by schemathesis, in-process.

The quality bar is docs/architecture.md#quality-bars. Each operation gets a fresh ``Stage``
(tests/schemathesis_support.py) and is called as the
persona that may use it. Every example runs inside a savepoint that is rolled back, and with an
empty cache, so each of the 100 examples sees the same data and no throttle counter: writes
never exhaust the stage (a claim, a cancel, a verify happen again and again on the same rows).
Path ids are mapped onto existing objects three times in four, so examples reach the code
behind the lookups; the fourth keeps the generated id (usually a 404).

Every default check runs, positive_data_acceptance and negative_data_rejection included:
schema-valid input must not get a 400/422, schema-invalid input must. The schema states what a
schema can (types, ranges, patterns, lengths, enums); the rules it can only state in words (ids
that must exist, rules between fields, rules against the clock or stored data) are kept by
``make_valid``, which moves a *positive* case's values onto valid ones. Negative cases are sent
as generated; each rule ``make_valid`` keeps has its own unit tests.

Run: ``RUN_SCHEMATHESIS=1 pytest -m schemathesis``; without the variable it is skipped
(``.ci/run`` has a leg for it, on SQLite).
SCHEMATHESIS_EXAMPLES (default 100) and SCHEMATHESIS_SEED (default: derandomized, so CI is
stable; set ``random`` to explore) tune it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation

from tests.schemathesis_support import Stage, build_stage, make_valid

# Minutes on two cores: its own leg in .ci/run (RUN_SCHEMATHESIS=1), not in every `make test`.
pytestmark = [
    pytest.mark.schemathesis,
    pytest.mark.skipif(
        not os.environ.get("RUN_SCHEMATHESIS"), reason="set RUN_SCHEMATHESIS=1 (.ci/run does)"
    ),
]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "100"))
DERANDOMIZE = os.environ.get("SCHEMATHESIS_SEED", "") != "random"

schema = schemathesis.openapi.from_path(SCHEMA_PATH)
schema.app = get_wsgi_application()


@pytest.fixture
def stage(world, wechat) -> Stage:
    # ``wechat``: a local code2session server, so auth/wechat/ reaches a real dependency.
    # The WSGI handler closes "old" connections at each request's start and end; inside the
    # test's transaction that would close the connection holding the stage.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield build_stage(world)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _point_at_stage(case, stage: Stage) -> dict[str, str]:
    """Map generated ids onto the stage's objects; the headers of the operation's persona."""
    known = stage.ids_for(case.path)
    for name, value in list(case.path_parameters.items()):
        if known and isinstance(value, int) and value % 4 != 3:
            case.path_parameters[name] = known[value % len(known)]
        elif known and isinstance(value, str) and value.isdigit() and int(value) % 4 != 3:
            case.path_parameters[name] = str(known[int(value) % len(known)])
    # Open311 posts authenticate with a form field: a valid key in half of the examples.
    body = case.body if case.path.startswith("/open311/") else None
    if isinstance(body, dict) and "api_key" in body and len(str(body["api_key"])) % 2 == 0:
        body["api_key"] = stage.api_key
    persona = stage.persona(case.path)
    # A negative case that dropped the Authorization header tests "no token → 401": keep it out.
    dropped = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    if dropped and "authorization" not in {name.lower() for name in case.headers or {}}:
        return {}
    return {"Authorization": stage.tokens[persona]} if persona else {}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    # Slowness only: a request through the whole stack takes milliseconds, not microseconds.
    # function_scoped_fixture: the stage is built once per operation on purpose, and every
    # example rolls its writes back (see the module docstring).
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_operation(case, stage):
    """No 5xx; status, content type, headers and body conform to openapi.yaml; valid input
    accepted and invalid input refused."""
    headers = _point_at_stage(case, stage)
    if case.meta is not None and case.meta.generation.mode.is_positive:
        make_valid(case, stage)
    cache.clear()
    with transaction.atomic():
        case.call_and_validate(headers=headers)
        transaction.set_rollback(True)
