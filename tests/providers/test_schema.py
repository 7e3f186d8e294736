"""The validator and the JSON description, on a schema declared for the tests."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from providers.schema import (
    MAX_ERRORS,
    Boolean,
    Check,
    Date,
    FieldError,
    Integer,
    List,
    Number,
    Object,
    Schema,
    String,
    ValidationError,
)


def _ordered(params: dict[str, Any], path: str) -> list[FieldError]:
    if params["start"] and params["end"] and params["start"] > params["end"]:
        return [FieldError("end", "order", "must not be before start")]
    return []


SCHEMA = Schema(
    fields={
        "name": String(required=True, max_length=10, pattern=r"[a-z]+", help="lower-case"),
        "size": Integer(minimum=1, maximum=5, default=2),
        "ratio": Number(minimum=0, maximum=1),
        "flag": Boolean(default=False),
        "kind": String(choices=("a", "b"), default="a"),
        "start": Date(minimum=dt.date(2000, 1, 1)),
        "end": Date(not_after_today=True),
        "items": List(item=Integer(minimum=0, maximum=9), max_items=3, unique=True),
        "point": Object(fields={"x": Integer(minimum=0, maximum=9, required=True)}),
    },
    checks=[Check("start <= end", _ordered)],
    max_bytes=512,
)


def errors(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        SCHEMA.validate(raw)
    return [(e.path, e.rule) for e in info.value.errors]


def test_valid_params_are_cleaned_and_defaults_filled() -> None:
    clean = SCHEMA.validate({"name": "  abc ", "start": "2020-02-29", "items": [1, 2]})
    assert clean["name"] == "abc"
    assert clean["size"] == 2 and clean["flag"] is False and clean["kind"] == "a"
    assert clean["start"] == dt.date(2020, 2, 29)
    assert clean["ratio"] is None and clean["point"] is None


def test_dump_gives_json_back() -> None:
    clean = SCHEMA.validate({"name": "abc", "start": "2020-02-29", "point": {"x": 3}})
    dumped = SCHEMA.dump(clean)
    assert dumped["start"] == "2020-02-29" and dumped["point"] == {"x": 3}
    assert json.loads(json.dumps(dumped)) == dumped
    assert SCHEMA.normalize(dumped) == dumped


def test_null_means_absent() -> None:
    assert SCHEMA.validate({"name": "abc", "size": None})["size"] == 2
    assert errors({"name": None}) == [("name", "required")]


def test_unknown_params_are_refused() -> None:
    assert errors({"name": "abc", "host": "evil.example"}) == [("host", "unknown")]
    assert errors({"name": "abc", "point": {"x": 1, "y": 2}}) == [("point.y", "unknown")]


@pytest.mark.parametrize(
    "field, value",
    [
        ("size", True),  # JSON true is not an integer, although bool subclasses int
        ("size", 2.0),
        ("size", "2"),
        ("ratio", "0.5"),
        ("ratio", False),
        ("flag", 1),
        ("name", 5),
        ("items", "1,2"),
        ("point", [1]),
        ("start", 20200101),
    ],
)
def test_wrong_types_are_refused_not_coerced(field: str, value: Any) -> None:
    assert errors({"name": "abc", field: value}) == [(field, "type")]


def test_non_finite_numbers_are_refused() -> None:
    assert errors({"name": "abc", "ratio": float("nan")}) == [("ratio", "type")]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"size": 0}, ("size", "minimum")),
        ({"size": 6}, ("size", "maximum")),
        ({"ratio": 1.5}, ("ratio", "maximum")),
        ({"name": "abcdefghijk"}, ("name", "max_length")),
        ({"name": ""}, ("name", "min_length")),
        ({"name": "ABC"}, ("name", "pattern")),
        ({"name": "ab\ncd"}, ("name", "characters")),
        ({"kind": "c"}, ("kind", "choices")),
        ({"items": [1, 2, 3, 4]}, ("items", "max_items")),
        ({"items": [1, 1]}, ("items[1]", "unique")),
        ({"items": [1, 10]}, ("items[1]", "maximum")),
        ({"point": {}}, ("point.x", "required")),
        ({"start": "1999-12-31"}, ("start", "minimum")),
        ({"start": "2020-02-30"}, ("start", "format")),
        ({"start": "20200101"}, ("start", "format")),
        ({"end": "2999-01-01"}, ("end", "maximum")),
        ({"start": "2020-01-02", "end": "2020-01-01"}, ("end", "order")),
    ],
)
def test_each_rule_names_field_and_rule(params: dict[str, Any], expected: tuple[str, str]) -> None:
    assert errors({"name": "abc", **params}) == [expected]


def test_all_field_errors_are_reported_together() -> None:
    found = errors({"name": 1, "size": 9, "extra": 0})
    assert set(found) == {("name", "type"), ("size", "maximum"), ("extra", "unknown")}


def test_errors_are_capped() -> None:
    raw = {f"k{i}": 0 for i in range(MAX_ERRORS + 10)}
    schema = Schema(fields={"a": Integer(minimum=0, maximum=1)}, max_bytes=10_000)
    with pytest.raises(ValidationError) as info:
        schema.validate(raw)
    assert len(info.value.errors) == MAX_ERRORS


def test_oversized_params_are_refused_before_fields() -> None:
    assert errors({"name": "abc", "junk": "x" * 600}) == [("", "size")]


@pytest.mark.parametrize("raw", [[1, 2], "name=abc", 42])
def test_params_must_be_an_object(raw: Any) -> None:
    assert errors(raw) == [("", "type")]


def test_params_must_be_plain_json() -> None:
    assert errors({"name": "abc", "ratio": {1, 2}}) == [("", "type")]


def test_validation_error_serialises_for_the_api() -> None:
    with pytest.raises(ValidationError) as info:
        SCHEMA.validate({"size": 0})
    body = info.value.to_dict()
    assert {"path": "size", "rule": "minimum", "message": "must be at least 1"} in body["errors"]
    assert "size: must be at least 1" in str(info.value)


def test_describe_is_json_with_types_defaults_limits_and_help() -> None:
    described = json.loads(json.dumps(SCHEMA.describe()))
    fields = {f["name"]: f for f in described["fields"]}
    assert list(fields) == list(SCHEMA.fields)
    assert fields["name"] == {
        "name": "name",
        "type": "string",
        "required": True,
        "help": "lower-case",
        "minLength": 1,
        "maxLength": 10,
        "pattern": "[a-z]+",
    }
    assert fields["size"]["default"] == 2 and fields["size"]["maximum"] == 5
    assert fields["kind"]["enum"] == ["a", "b"]
    assert fields["start"]["format"] == "date" and fields["start"]["minimum"] == "2000-01-01"
    assert fields["items"]["items"]["type"] == "integer" and fields["items"]["maxItems"] == 3
    assert fields["point"]["fields"][0]["name"] == "x"
    assert described["rules"] == ["start <= end"] and described["maxBytes"] == 512
