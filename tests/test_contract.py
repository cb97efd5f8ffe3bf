"""The contract as independent tools read it (docs/api.md, 契约 Contract).

- openapi-spec-validator, not drf-spectacular's own check, accepts openapi.yaml;
- the error responses say what the code does: closed ``code`` enums where the view declares its
  errors, typed extra fields, the response headers the API sets;
- the TypeScript types openapi-typescript generates compile under ``tsc --strict`` with
  contract/check.ts, and a misspelt error code does not compile. These need node and
  ``npm ci`` in contract/ (.ci/contract does both and sets REQUIRE_CONTRACT=1); without them
  they skip on a laptop.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from backend.schema import ERROR_EXTRAS, GENERIC_CODES
from tests import contract_codes

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contract"
TSC = CONTRACT / "node_modules" / ".bin" / "tsc"
GENERATOR = CONTRACT / "node_modules" / ".bin" / "openapi-typescript"
CLAIM = ("post", "/api/v1/requests/{id}/claims/")


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))


def _operation(schema: dict, method: str, path: str) -> dict:
    return schema["paths"][path][method]


def _codes(operation: dict, status: str) -> list[str]:
    body = operation["responses"][status]["content"]["application/json"]["schema"]
    return body["allOf"][1]["properties"]["code"]["enum"]


def test_openapi_spec_validator_accepts_the_schema():
    spec, _url = read_from_filename(str(ROOT / "openapi.yaml"))
    validate(spec)  # raises OpenAPIValidationError on anything it rejects


def test_a_default_is_valid_against_its_own_schema(schema):
    note = schema["components"]["schemas"]["VerifyInputRequest"]["properties"]["note"]
    assert note["default"] == ""
    assert all("default" not in branch for branch in note["oneOf"])


def test_declared_operations_have_closed_code_enums(schema):
    operation = _operation(schema, *CLAIM)
    conflicts = _codes(operation, "409")
    for code in ("request_full", "already_claimed", "request_not_open", "time_conflict"):
        assert code in conflicts
    assert "idempotency_in_progress" in conflicts
    assert _codes(operation, "403") == [
        "permission_denied",
        "invite_window",
        "member_profile_required",
    ]
    assert _codes(operation, "401") == GENERIC_CODES["401"]
    assert operation["x-error-codes"]["409"][0] == "request_full"


def test_undeclared_operations_keep_a_string_code(schema):
    # Where the view does not declare its errors, the schema promises no closed list.
    responses = _operation(schema, "get", "/api/v1/me/")["responses"]
    assert responses["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_the_extra_error_fields_are_typed(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["additionalProperties"] is False
    assert error["properties"]["distance_m"]["type"] == "integer"
    assert error["properties"]["flags"]["items"]["$ref"].endswith("/AnomalyFlagCodeEnum")
    assert set(ERROR_EXTRAS) <= set(error["properties"])


def test_response_headers_are_declared(schema):
    claim = _operation(schema, *CLAIM)["responses"]
    assert "Idempotent-Replayed" in claim["201"]["headers"]
    assert "Retry-After" in claim["409"]["headers"]
    assert "Retry-After" in claim["429"]["headers"]
    towns = _operation(schema, "get", "/api/v1/towns/")["responses"]
    assert towns["200"]["headers"]["ETag"]["required"] is True
    assert "ETag" in towns["304"]["headers"]


def test_enum_names_say_what_they_are(schema):
    names = set(schema["components"]["schemas"])
    assert "CodeEnum" not in names
    assert "AnomalyFlagCodeEnum" in names


def test_examples_are_chinese_with_beijing_times(schema):
    create = _operation(schema, "post", "/api/v1/requests/")
    example = next(iter(create["requestBody"]["content"]["application/json"]["examples"].values()))
    assert example["value"]["starts_at"].endswith("+08:00")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in example["value"]["title"])


def test_the_claim_description_names_the_non_member_answer(schema):
    description = _operation(schema, *CLAIM)["description"]
    assert "permission_denied" in description
    assert "member_profile_required" in description


def test_the_code_proof_reports_a_documented_code_no_test_produced(schema):
    from backend.schema import BODY_CODES, IDEMPOTENCY_CODES

    declared = {
        (method, path, status, code)
        for (method, path), statuses in contract_codes.documented(schema).items()
        for status, codes in statuses.items()
        for code in codes
    }
    handler = {
        ("get", "/api/v1/me/", status, code)
        for table in (GENERIC_CODES, BODY_CODES, IDEMPOTENCY_CODES)
        for status, codes in table.items()
        for code in codes
    }
    assert contract_codes.missing(schema, declared | handler) == []
    without = {row for row in declared if row[:2] != CLAIM or row[3] != "request_full"}
    assert contract_codes.missing(schema, without | handler) == [
        "POST /api/v1/requests/{id}/claims/ 409 request_full"
    ]
    handler_without = {row for row in handler if row[3] != "json_too_deep"}
    assert contract_codes.missing(schema, declared | handler_without) == [
        "(any operation) 400 json_too_deep"
    ]


# ---------------------------------------------------------------- TypeScript (node + npm ci)


def _need_node():
    if TSC.exists() and GENERATOR.exists() and shutil.which("node"):
        return
    if os.environ.get("REQUIRE_CONTRACT") == "1":
        pytest.fail("contract/node_modules is missing: run .ci/contract (npm ci in contract/)")
    pytest.skip("node and contract/node_modules (npm ci) are needed; .ci/contract runs these")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    _need_node()
    out = tmp_path_factory.mktemp("contract") / "api.d.ts"
    # The generator's arguments exactly as package.json's "generate" script (.ci/contract) has
    # them, writing to a private file.
    script = json.loads((CONTRACT / "package.json").read_text(encoding="utf-8"))["scripts"]
    args = shlex.split(script["generate"])
    assert args[0] == "openapi-typescript" and args[-2:] == ["--output", "generated/api.d.ts"]
    subprocess.run(
        [str(GENERATOR), *args[1:-1], str(out)],
        cwd=CONTRACT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def _tsc(generated: Path, source: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Compile ``source`` (importing ./generated/api) with the generated types, strictly."""
    (tmp_path / "generated").mkdir(exist_ok=True)
    shutil.copy(generated, tmp_path / "generated" / "api.d.ts")
    (tmp_path / "check.ts").write_text(source, encoding="utf-8")
    config = (CONTRACT / "tsconfig.json").read_text(encoding="utf-8")
    (tmp_path / "tsconfig.json").write_text(config, encoding="utf-8")
    return subprocess.run(
        [str(TSC), "--noEmit", "--strict", "-p", str(tmp_path / "tsconfig.json")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_ts_compiles_strictly(generated, tmp_path):
    result = _tsc(generated, (CONTRACT / "check.ts").read_text(encoding="utf-8"), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misspelt_error_code_does_not_compile(generated, tmp_path):
    bad = (
        'import type { operations } from "./generated/api";\n'
        'type Conflict = operations["api_v1_requests_claims_create"]["responses"][409]'
        '["content"]["application/json"];\n'
        'export const typo: Conflict = { code: "reqest_not_open", detail: "不可认领。" };\n'
    )
    result = _tsc(generated, bad, tmp_path)
    assert result.returncode != 0
    # TS2820: Type "reqest_not_open" is not assignable to type ... Did you mean ...?
    assert "reqest_not_open" in result.stdout
    assert "is not assignable to type" in result.stdout
    # The same line with the right code compiles: the failure is the typo, nothing else.
    good = _tsc(generated, bad.replace("reqest_not_open", "request_not_open"), tmp_path)
    assert good.returncode == 0, good.stdout


def test_an_extra_error_field_has_its_type(generated, tmp_path):
    bad = (
        'import type { operations } from "./generated/api";\n'
        'type Far = operations["api_v1_claims_check_in_create"]["responses"][422]'
        '["content"]["application/json"];\n'
        'export const far: Far = { code: "too_far", detail: "距离过远", distance_m: "1200" };\n'
    )
    result = _tsc(generated, bad, tmp_path)
    assert result.returncode != 0
    assert "Type 'string' is not assignable to type 'number'" in result.stdout
