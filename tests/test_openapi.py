"""openapi.yaml is generated from the code; this fails when the committed file drifts."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = ".venv/bin/python manage.py spectacular --validate --fail-on-warn --file openapi.yaml"


def test_openapi_yaml_is_in_sync(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(generated))
    committed = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    fresh = yaml.safe_load(generated.read_text(encoding="utf-8"))
    assert committed == fresh, f"openapi.yaml is out of date; regenerate it with: {REGENERATE}"


def test_schema_declares_jwt_and_the_error_shape(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(generated))
    schema = yaml.safe_load(generated.read_text(encoding="utf-8"))
    assert schema["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "detail"]
    me = schema["paths"]["/api/v1/me/"]["get"]["responses"]
    assert me["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_docs_are_served_offline(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
