"""The error-code proof: every error code openapi.yaml documents for an operation is produced by
some test.

How it works (docs/api.md, "契约 Contract"):

- ``install()`` (called from tests/conftest.py's ``pytest_configure``) wraps Django's
  ``BaseHandler.get_response``, so every response the app gives inside this pytest process (the
  test client, APIClient, live-server threads, schemathesis' WSGI calls) is seen. For each error
  response with a JSON body it records ``(method, path, status, code)``.
- ``finish()`` (``pytest_sessionfinish``) matches the paths against openapi.yaml's paths, writes
  what was seen to ``test-artifacts/contract-codes.json`` and, when the whole suite ran (no file,
  ``-k`` or ``-m`` selection; ``CONTRACT_CODES=1`` forces it, ``CONTRACT_CODES=0`` turns it off),
  compares: a code declared for one operation (``x-error-codes``: from the view's
  ``error_codes(...)``) must be seen on that operation with that status; a code the one error
  handler gives to every operation (``GENERIC_CODES``) must be seen on some operation with that
  status. Anything missing fails the session with a list.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "test-artifacts" / "contract-codes.json"

_seen: set[tuple[str, str, int, str]] = set()
_lock = threading.Lock()
_installed = False


def _record(request, response) -> None:
    status = getattr(response, "status_code", 0)
    if status < 400 or getattr(response, "streaming", False):
        return
    if "json" not in response.get("Content-Type", ""):
        return
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, str):
        with _lock:
            _seen.add((request.method.lower(), request.path, status, code))


def install() -> None:
    """Wrap the one entry point every in-process request goes through."""
    global _installed
    if _installed:
        return
    from django.core.handlers.base import BaseHandler

    original = BaseHandler.get_response

    def get_response(self, request):
        response = original(self, request)
        # The recorder never changes a test's outcome: a body it cannot read is not recorded.
        with contextlib.suppress(Exception):
            _record(request, response)
        return response

    BaseHandler.get_response = get_response
    _installed = True


def _operations(schema: dict[str, Any]) -> list[tuple[re.Pattern[str], str, str, dict]]:
    """Path patterns, literal paths first: /requests/map/ is not /requests/{id}/."""
    out = []
    for path, item in schema["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                out.append((pattern, method, path, operation))
    return sorted(out, key=lambda row: (row[2].count("{"), row[2]))


def documented(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, list[str]]]:
    """``(method, path) -> {status: [codes declared by the view]}`` from ``x-error-codes``."""
    out = {}
    for _pattern, method, path, operation in _operations(schema):
        declared = operation.get("x-error-codes")
        if declared:
            out[(method, path)] = declared
    return out


def matched(schema: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """What was seen, as ``(method, openapi path, status, code)``."""
    operations = _operations(schema)
    out = set()
    with _lock:
        seen = set(_seen)
    for method, url, status, code in seen:
        for pattern, op_method, path, _operation in operations:
            if op_method == method and pattern.match(url):
                out.add((method, path, str(status), code))
                break
    return out


def raw() -> set[tuple[str, str]]:
    """``(status, code)`` of every error seen, on any path (a 405 is on no documented method,
    a 500 comes from a test's own URL)."""
    with _lock:
        return {(str(status), code) for _method, _path, status, code in _seen}


def missing(
    schema: dict[str, Any],
    seen: set[tuple[str, str, str, str]],
    anywhere: set[tuple[str, str]] | None = None,
) -> list[str]:
    """Every documented code that no test produced: a declared one on its operation, a
    handler's one anywhere (``anywhere`` adds what was seen outside the documented paths)."""
    from backend.schema import BODY_CODES, GENERIC_CODES, IDEMPOTENCY_CODES

    problems = []
    for (method, path), statuses in sorted(documented(schema).items()):
        for status, codes in sorted(statuses.items()):
            for code in codes:
                if (method, path, status, code) not in seen:
                    problems.append(f"{method.upper()} {path} {status} {code}")
    anywhere = {(status, code) for _m, _p, status, code in seen} | (anywhere or set())
    # The handler's codes (any operation, from backend.exceptions and the parsers) and the
    # Idempotency-Key machinery's: proven once, on any operation.
    shared = {
        (status, code)
        for table in (GENERIC_CODES, BODY_CODES, IDEMPOTENCY_CODES)
        for status, codes in table.items()
        for code in codes
    }
    for status, code in sorted(shared - anywhere):
        problems.append(f"(any operation) {status} {code}")
    return problems


def _whole_suite(config) -> bool:
    forced = os.environ.get("CONTRACT_CODES")
    if forced is not None:
        return forced == "1"
    if getattr(config, "workerinput", None) is not None:
        return False
    if config.option.keyword or config.option.markexpr or getattr(config.option, "lf", False):
        return False
    tests_dir = ROOT / "tests"
    args = [Path(arg.split("::")[0]).resolve() for arg in config.args] or [tests_dir]
    return all(arg in (tests_dir, ROOT) for arg in args)


def finish(session) -> None:
    if not _installed:
        return
    schema = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    seen = matched(schema)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(sorted(seen), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    if session.exitstatus != 0 or not _whole_suite(session.config):
        return
    problems = missing(schema, seen, raw())
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["", "契约 contract: documented error codes no test produced:", *problems]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = 1
