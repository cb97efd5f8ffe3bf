"""The input rules openapi.yaml states are the ones the code applies (schemathesis holds the
API to both directions: schema-valid input is accepted, schema-invalid input refused)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from accounts import errors as common
from accounts.fields import NO_NUL_PATTERN, SOME_TEXT_PATTERN, VISIBLE_TEXT_PATTERN
from stations import errors as geo_errors
from tests.test_errors import assert_error

SCHEMA = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "openapi.yaml").read_text(encoding="utf-8")
)
# Keys that say which strings a property takes besides its length.
STATED = {"enum", "format", "pattern", "oneOf", "allOf", "$ref"}


def _request_strings():
    """(name, schema) of every string property of every request body."""
    for item in SCHEMA["paths"].values():
        for operation in item.values():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                body = content["schema"]
                ref = body.get("$ref", "")
                body = SCHEMA["components"]["schemas"][ref.split("/")[-1]] if ref else body
                for prop, schema in body.get("properties", {}).items():
                    if schema.get("type") == "string" and not schema.get("readOnly"):
                        yield f"{operation['operationId']}.{prop}", schema


def test_every_request_string_states_what_it_takes():
    unstated = [name for name, schema in _request_strings() if not STATED & schema.keys()]
    assert unstated == []


@pytest.mark.parametrize(
    ("pattern", "accepted", "refused"),
    [
        (VISIBLE_TEXT_PATTERN, ["a", " a ", "讲座"], ["", " ", "\u3000\t", "\x1c", "a\x00"]),
        (SOME_TEXT_PATTERN, [" ", "a"], ["", "a\x00b"]),
        (NO_NUL_PATTERN, ["", " ", "a"], ["\x00"]),
    ],
)
def test_text_patterns_say_what_the_char_field_refuses(pattern, accepted, refused):
    assert all(re.search(pattern, text) for text in accepted)
    assert not any(re.search(pattern, text) for text in refused)


@pytest.mark.parametrize("name", ["", "   ", "\u3000", "讲\x00座"])
def test_blank_and_nul_text_in_a_body_is_400(world, client_for, name):
    response = client_for(world.sam).post(
        "/api/v1/specialties/", {"code": "tea", "name": name}, format="json"
    )
    assert_error(response, 400, common.VALIDATION_ERROR)


@pytest.mark.parametrize("url", ["/api/v1/towns/?search=a%00", "/api/v1/members/?search=a%00"])
def test_nul_in_a_search_is_400(world, client_for, url):
    assert_error(client_for(world.sam).get(url), 400, common.VALIDATION_ERROR)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/stats/summary/?campaign_kind=",
        "/api/v1/stats/export/?sheet=",
        "/api/v1/requests/recommended/?coord_type=",
    ],
)
def test_an_empty_enum_parameter_is_400_not_the_default(world, client_for, url):
    response = client_for(world.sam if "stats" in url else world.alice.user).get(url)
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("coord_type", ["GCJ02", "", " gcj02"])
def test_the_map_takes_its_coordinate_systems_exactly(world, client_for, coord_type):
    response = client_for(world.alice.user).get(
        "/api/v1/requests/map/", {"bbox": "122.05,29.98,122.15,30.06", "coord_type": coord_type}
    )
    assert_error(response, 400, geo_errors.UNKNOWN_COORD_TYPE)


@pytest.mark.parametrize("near", ["", " 30.02,122.1", "30.02, 122.1", "30.02,122.1\n"])
def test_near_is_two_numbers_and_nothing_else(world, client_for, near):
    response = client_for(world.alice.user).get("/api/v1/requests/", {"near": near})
    assert_error(response, 400, geo_errors.INVALID_COORDINATES)


def test_an_empty_comma_separated_list_is_refused_and_the_schema_says_so(world, client_for):
    """ "?ordering=" cannot be told from one empty item: it is refused, and every array query
    parameter in the schema states minItems: 1."""
    response = client_for(world.alice.user).get("/api/v1/requests/?ordering=")
    body = assert_error(response, 400, "validation_error")
    assert "ordering" in body["fields"]
    assert (
        client_for(world.alice.user).get("/api/v1/requests/?ordering=-starts_at").status_code == 200
    )
    arrays = [
        parameter
        for path in SCHEMA["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "query" and parameter["schema"].get("type") == "array"
    ]
    assert arrays
    assert all(parameter["schema"].get("minItems") == 1 for parameter in arrays)


@pytest.mark.parametrize(
    ("phone", "status"),
    [
        ("139 0000 1235", 201),
        ("+86 139-0000-1235", 201),
        ("8613900001235", 201),
        ("１３９００００１２３５", 400),
        ("(139)00001235", 400),
        ("13900001235\n", 400),
        ("+86 1-3-9-0-0-0-0-1-2-3-5", 400),
    ],
)
def test_member_phones_follow_the_stated_pattern(world, client_for, phone, status):
    response = client_for(world.sam).post(
        "/api/v1/members/", {"name": "周舟", "phone": phone}, format="json"
    )
    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["phone"] == "13900001235"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"service_request_id": "1, 2"}, 400),
        ({"service_request_id": ""}, 400),
        ({"status": ""}, 400),
        ({"status": "open, closed"}, 400),
        ({"start_date": ""}, 400),
        ({"service_code": ""}, 200),
        ({"jurisdiction_id": ""}, 200),
    ],
)
def test_open311_lists_are_exact(world, anon, params, status):
    response = anon.get("/open311/v2/requests.json", params)
    assert response.status_code == status, response.content


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 304), ("?page_size=null", 400), ("?page=abc", 404), ("?page=0", 404)],
)
def test_a_conditional_get_checks_paging_first(world, client_for, query, status):
    response = client_for(world.alice.user).get(f"/api/v1/villages/{query}", HTTP_IF_NONE_MATCH="*")
    assert response.status_code == status, response.content
