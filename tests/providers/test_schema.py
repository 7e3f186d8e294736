"""Parameters as JSON Schema: jsonschema's verdicts in the API's words, cleaning, export."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jsonschema
import pytest

from providers.schema import (
    CONTROL_FREE,
    CONTROL_MESSAGE,
    DIALECT,
    MAX_ERRORS,
    Check,
    FieldError,
    ParamValidator,
    Schema,
    ValidationError,
    params_object,
    today,
)

pytestmark = pytest.mark.fast


def _ordered(params: dict[str, Any]) -> list[FieldError]:
    if params["start"] and params["end"] and params["start"] > params["end"]:
        return [FieldError("end", "order", "must not be before start")]
    return []


def _int(minimum: int, maximum: int, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, **extra}


SCHEMA = Schema(
    params_object(
        {
            "name": {
                "type": "string",
                "description": "lower-case",
                "minLength": 1,
                "maxLength": 10,
                "pattern": "^[a-z]+$",
            },
            "text": {
                "type": "string",
                "maxLength": 20,
                "pattern": CONTROL_FREE,
                "x-messages": {"pattern": CONTROL_MESSAGE},
            },
            "size": _int(1, 5, default=2),
            "ratio": {"type": "number", "minimum": 0, "maximum": 1},
            "flag": {"type": "boolean", "default": False},
            "kind": {"type": "string", "enum": ["a", "b"], "default": "a"},
            "slug": {
                "type": "string",
                "pattern": "^[a-z-]+$",
                "format": "slug",
                "x-messages": {"pattern": "must be a slug"},
            },
            "start": {"type": "string", "format": "date", "formatMinimum": "2000-01-01"},
            "end": {"type": "string", "format": "date", "x-notAfterToday": True},
            "items": {
                "type": "array",
                "items": _int(0, 9),
                "maxItems": 3,
                "uniqueItems": True,
            },
            "point": params_object({"x": _int(0, 9)}, required=["x"]),
        },
        required=["name"],
    ),
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


def test_numbers_are_typed_for_the_task() -> None:
    # JSON Schema counts 2.0 as an integer: the task still gets an int.
    clean = SCHEMA.validate({"name": "abc", "size": 2.0, "ratio": 1})
    assert clean["size"] == 2 and isinstance(clean["size"], int)
    assert isinstance(clean["ratio"], float)


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
        ("size", 2.5),
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
        ({"slug": "No Slug"}, ("slug", "format")),
        ({"text": "ab\ncd"}, ("text", "pattern")),
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


@pytest.mark.parametrize(
    "params, message",
    [
        ({"size": 0}, "must be at least 1"),
        ({"ratio": 1.5}, "must be at most 1"),
        ({"size": "2"}, "expected an integer, got string"),
        ({"start": 1}, "expected a date string, got integer"),
        ({"name": "abcdefghijk"}, "must be at most 10 characters long"),
        ({"slug": "No Slug"}, "must be a slug"),
        ({"text": "a\x07b"}, "must not contain control characters"),
        ({"kind": "c"}, "must be one of: a, b"),
        ({"items": [1, 1]}, "repeats an earlier item"),
        ({"start": "1999-12-31"}, "must be on or after 2000-01-01"),
        ({"start": "2020-02-30"}, "must be a date written YYYY-MM-DD"),
        ({"end": "2999-01-01"}, "must not be in the future"),
        ({"host": "x"}, "unknown parameter; expected: name, text, size"),
    ],
)
def test_messages_say_what_was_wrong(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        SCHEMA.validate({"name": "abc", **params})
    assert info.value.errors[0].message.startswith(message)


def test_one_error_per_value_and_none_inside_a_refused_list() -> None:
    # "" is too short *and* off-pattern: the length is what people need to hear.
    assert errors({"name": "", "items": [1, 1, 1, 1]}) == [
        ("name", "min_length"),
        ("items", "max_items"),
    ]


def test_today_is_read_at_validation_time() -> None:
    assert SCHEMA.validate({"name": "abc", "end": today().isoformat()})["end"] == today()


def test_all_field_errors_are_reported_together() -> None:
    found = errors({"name": 1, "size": 9, "extra": 0})
    assert set(found) == {("name", "type"), ("size", "maximum"), ("extra", "unknown")}


def test_rules_across_fields_wait_for_valid_fields() -> None:
    assert errors({"name": "abc", "size": 0, "start": "2020-01-02", "end": "2020-01-01"}) == [
        ("size", "minimum")
    ]


def test_errors_are_capped() -> None:
    raw = {f"k{i}": 0 for i in range(MAX_ERRORS + 10)}
    schema = Schema(params_object({"a": _int(0, 1)}), max_bytes=10_000)
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


def test_export_is_a_valid_draft_2020_12_document() -> None:
    exported = json.loads(json.dumps(SCHEMA.json_schema()))
    assert exported["$schema"] == DIALECT
    jsonschema.Draft202012Validator.check_schema(exported)
    assert list(exported["properties"]) == list(SCHEMA.document["properties"])
    assert exported["required"] == ["name"] and exported["additionalProperties"] is False
    assert exported["x-rules"] == ["start <= end"] and exported["x-maxBytes"] == 512
    # The export validates what the server accepts (formats are checked too).
    validator = ParamValidator(exported, format_checker=jsonschema.FormatChecker())
    assert validator.is_valid({"name": "abc", "start": "2020-02-29"})
    assert not validator.is_valid({"name": "abc", "start": "2020-02-30"})


def test_a_broken_declaration_fails_at_import() -> None:
    with pytest.raises(jsonschema.SchemaError):
        Schema(params_object({"size": {"type": "integer", "minimum": "one"}}))
