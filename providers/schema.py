"""Provider parameters declared once, as JSON Schema (draft 2020-12).

A provider's parameters are one JSON Schema document, validated here with
the ``jsonschema`` library and in the browser with ajv: the same document,
two standard validators, no second hand-written rule set. This module adds
what JSON Schema leaves to the application:

- words: each refused value becomes a :class:`FieldError` naming the field
  (``places[1].latitude``), the rule (``maximum``) and what was wrong
  (``must be at most 90``); the UI maps ajv's errors to the same words;
- cleaning: surrounding whitespace is removed, ``null`` means absent,
  defaults are filled in, dates become ``datetime.date``;
- rules across fields (:class:`Check`), run once every field is valid, and
  listed in words in the exported document (``x-rules``).

Keywords beyond the standard vocabulary, implemented by both validators:

- ``formatMinimum`` (ajv-formats' keyword): the earliest allowed date;
- ``x-notAfterToday``: a date must not be after today's UTC date, checked at
  validation time so a schema declared at import never goes stale;
- ``x-messages``: ``{keyword: message}``, the words for a failed keyword
  (a pattern alone cannot say "must be owner/repo");
- ``x-rules`` and ``x-maxBytes`` (exported only): the cross-field rules in
  words and the size limit of the whole document.

The validator is strict on purpose: unknown parameters, wrong JSON types
(``true`` is not an integer, ``"3"`` is not a number), values out of range
and oversized documents are refused, never coerced. Parameters can only ever
fill query strings and single path segments: no field accepts a URL, and
hosts come from settings alone.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import FormatError

DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema dialect of every parameter document (ajv's ``Ajv2020``)."""

MAX_ERRORS = 20
"""A wildly wrong document gets this many field errors, not thousands."""

CONTROL_FREE = "^[^\\u0000-\\u001f\\u007f]*$"
"""Pattern for free text: control characters (CR/LF above all) have no place in it."""

CONTROL_MESSAGE = "must not contain control characters"


@dataclass(frozen=True)
class FieldError:
    """One refused value: where (``places[1].latitude``), which rule, and why."""

    path: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "rule": self.rule, "message": self.message}


class ValidationError(ValueError):
    """Parameters were refused; ``errors`` lists every field error found."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{e.path or 'params'}: {e.message}" for e in self.errors))

    def to_dict(self) -> dict[str, Any]:
        return {"errors": [e.to_dict() for e in self.errors]}


Checker = Callable[[dict[str, Any]], Iterable[FieldError]]
"""Reads clean parameters (defaults filled, dates as ``date``); yields errors."""


@dataclass(frozen=True)
class Check:
    """A rule across fields, run once the whole document is valid."""

    description: str
    fn: Checker


def today() -> dt.date:
    """Today in UTC: the upstream APIs all count days in UTC."""
    return dt.datetime.now(dt.UTC).date()


# --- the two keywords of our own ---------------------------------------------


def _is_date(value: Any) -> bool:
    try:
        Draft202012Validator.FORMAT_CHECKER.check(value, "date")
    except FormatError:
        return False
    return isinstance(value, str)


def _format_minimum(
    validator: Any, minimum: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    # ISO dates compare as text; an invalid date is the format keyword's error.
    if schema.get("format") == "date" and _is_date(instance) and instance < minimum:
        yield jsonschema.ValidationError(f"must be on or after {minimum}")


def _not_after_today(
    validator: Any, enabled: bool, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if enabled and _is_date(instance) and instance > today().isoformat():
        yield jsonschema.ValidationError("must not be in the future")


def _annotation(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
    return iter(())


ParamValidator = jsonschema.validators.extend(
    Draft202012Validator,
    {
        "formatMinimum": _format_minimum,
        "x-notAfterToday": _not_after_today,
        "x-messages": _annotation,
        "x-rules": _annotation,
        "x-maxBytes": _annotation,
    },
)
"""Draft 2020-12 plus formatMinimum and x-notAfterToday (see the module doc)."""


# --- jsonschema errors in words ------------------------------------------------

RULES = {
    "type": "type",
    "required": "required",
    "additionalProperties": "unknown",
    "minLength": "min_length",
    "maxLength": "max_length",
    "enum": "choices",
    "format": "format",
    "pattern": "pattern",
    "minimum": "minimum",
    "maximum": "maximum",
    "formatMinimum": "minimum",
    "x-notAfterToday": "maximum",
    "minItems": "min_items",
    "maxItems": "max_items",
    "uniqueItems": "unique",
}
"""Keyword -> the rule name the API reports. Order matters: it is also the
priority when one value breaks several keywords (only the first is shown,
so "US" is too short, not also of the wrong pattern)."""

_PRIORITY = {keyword: i for i, keyword in enumerate(RULES)}

_EXPECTED = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "an array",
    "object": "an object",
}


def _type_name(value: Any) -> str:
    """JSON's name for a Python value, for "expected X, got Y" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _join(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _first_repeat(items: Sequence[Any]) -> int:
    seen: set[str] = set()
    for index, item in enumerate(items):
        key = json.dumps(item, sort_keys=True)
        if key in seen:
            return index
        seen.add(key)
    return len(items) - 1


def _words(error: jsonschema.ValidationError) -> Iterator[FieldError]:
    """One jsonschema error as field errors (one per missing or unknown key)."""
    keyword, value, instance = error.validator, error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    path = list(error.absolute_path)
    custom = schema.get("x-messages", {}).get(keyword)
    if keyword == "required":
        for name in value:
            if name not in instance:
                yield FieldError(_join([*path, name]), "required", "is required")
        return
    if keyword == "additionalProperties":
        known = schema.get("properties", {})
        for key in instance:
            if key not in known:
                shown = key if len(key) <= 40 else f"{key[:40]}..."
                yield FieldError(
                    _join([*path, shown]),
                    "unknown",
                    f"unknown parameter; expected: {', '.join(known)}",
                )
        return
    if keyword == "uniqueItems":
        at = _join([*path, _first_repeat(instance)])
        yield FieldError(at, "unique", custom or "repeats an earlier item")
        return
    rule = RULES.get(keyword, str(keyword))
    if keyword == "pattern" and "format" in schema:
        rule = "format"  # a pattern that spells out a format (slug, owner/repo)
    yield FieldError(_join(path), rule, custom or _message(keyword, value, instance, schema, error))


def _message(keyword: Any, value: Any, instance: Any, schema: Mapping[str, Any], error: Any) -> str:
    match keyword:
        case "type":
            wanted = "a date string" if schema.get("format") == "date" else _EXPECTED.get(value)
            return f"expected {wanted or value}, got {_type_name(instance)}"
        case "minLength":
            return f"must be at least {value} characters long"
        case "maxLength":
            return f"must be at most {value} characters long"
        case "enum":
            return f"must be one of: {', '.join(str(v) for v in value)}"
        case "format" if value == "date":
            return "must be a date written YYYY-MM-DD"
        case "pattern":
            return f"must match {value}"
        case "minimum":
            return f"must be at least {_number(value)}"
        case "maximum":
            return f"must be at most {_number(value)}"
        case "minItems":
            return f"must have at least {value} item(s)"
        case "maxItems":
            return f"must have at most {value} item(s)"
    return str(error.message)


def _within(path: str, parent: str) -> bool:
    return parent == "" or path.startswith(f"{parent}.") or path.startswith(f"{parent}[")


def field_errors(errors: Iterable[jsonschema.ValidationError]) -> list[FieldError]:
    """jsonschema's errors as the API's: one per field, none under a refused value.

    A value breaking several keywords reports the first in :data:`RULES`
    order; a refused list or object hides the errors of its items (a list
    that is too long is not also reported item by item).
    """
    best: dict[tuple[str, str], tuple[int, FieldError]] = {}
    for error in errors:
        rank = _PRIORITY.get(str(error.validator), len(_PRIORITY))
        for one in _words(error):
            # Missing and unknown keys are errors of their own, not of the object.
            key = (one.path, one.rule if one.rule in ("required", "unknown") else "")
            if key not in best or rank < best[key][0]:
                best[key] = (rank, one)
    found = [f for _, f in best.values()]
    blocking = {f.path for f in found if f.rule not in ("required", "unknown")}
    return [
        f
        for f in found
        if not any(p != f.path and p != "" and _within(f.path, p) for p in blocking)
    ]


# --- cleaning -------------------------------------------------------------------


class _NotJson(ValueError):
    """A value JSON cannot carry (a set, an object with non-text keys)."""


def _prepare(value: Any, path: list[str | int], errors: list[FieldError]) -> Any:
    """Whitespace trimmed, null keys dropped (absent), non-finite numbers refused."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            errors.append(FieldError(_join(path), "type", "must be a finite number"))
        return value
    if isinstance(value, list | tuple):
        return [_prepare(v, [*path, i], errors) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise _NotJson
        return {k: _prepare(v, [*path, k], errors) for k, v in value.items() if v is not None}
    raise _NotJson


def _clean(schema: Mapping[str, Any], value: Any) -> Any:
    """A valid JSON value typed for the task: defaults, None for absent, dates."""
    kind = schema.get("type")
    if kind == "object" and isinstance(value, Mapping):
        out = {}
        for name, sub in schema.get("properties", {}).items():
            raw = value.get(name)
            if raw is None:
                raw = copy.deepcopy(sub.get("default"))
            out[name] = None if raw is None else _clean(sub, raw)
        return out
    if kind == "array" and isinstance(value, list):
        return [_clean(schema.get("items", {}), v) for v in value]
    if kind == "string" and schema.get("format") == "date":
        return dt.date.fromisoformat(value)
    if kind == "integer":
        return int(value)  # JSON Schema counts 2.0 as an integer; the task gets 2
    if kind == "number":
        return float(value)
    return value


def _dump(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


# --- the schema ---------------------------------------------------------------


@dataclass(frozen=True)
class Schema:
    """A provider's parameters: a JSON Schema document, rules across fields, a size cap.

    ``document`` is the schema of the parameters object (``type: object``,
    ``additionalProperties: false``); :meth:`json_schema` is what the
    GraphQL ``providers`` query sends to the UI.
    """

    document: Mapping[str, Any]
    checks: Sequence[Check] = ()
    max_bytes: int = 4096

    def __post_init__(self) -> None:
        # A broken declaration fails at import, not on the first submission.
        ParamValidator.check_schema(self.json_schema())

    @cached_property
    def _validator(self) -> Any:
        return ParamValidator(
            self.json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def json_schema(self) -> dict[str, Any]:
        """The standard document (with ``x-rules`` and ``x-maxBytes``) for the UI."""
        out: dict[str, Any] = {"$schema": DIALECT, **copy.deepcopy(dict(self.document))}
        if self.checks:
            out["x-rules"] = [c.description for c in self.checks]
        out["x-maxBytes"] = self.max_bytes
        return out

    def validate(self, raw: Any) -> dict[str, Any]:
        """Clean, typed parameters (defaults filled in), or ValidationError."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ValidationError(
                [FieldError("", "type", f"parameters must be an object, got {_type_name(raw)}")]
            )
        plain = FieldError("", "type", "parameters must be plain JSON values")
        try:
            size = len(json.dumps(raw, ensure_ascii=False).encode())
        except (TypeError, ValueError):
            raise ValidationError([plain]) from None
        if size > self.max_bytes:
            # Refused before any field is looked at: no work for a huge document.
            raise ValidationError(
                [
                    FieldError(
                        "", "size", f"parameters are {size} bytes; the limit is {self.max_bytes}"
                    )
                ]
            )
        errors: list[FieldError] = []
        try:
            value = _prepare(raw, [], errors)
        except _NotJson:
            raise ValidationError([plain]) from None
        if errors:
            raise ValidationError(errors[:MAX_ERRORS])
        found = field_errors(self._validator.iter_errors(value))
        if found:
            raise ValidationError(found[:MAX_ERRORS])
        cleaned = _clean(self.document, value)
        crossed = [e for check in self.checks for e in check.fn(cleaned)]
        if crossed:
            raise ValidationError(crossed[:MAX_ERRORS])
        return cleaned

    def dump(self, cleaned: Mapping[str, Any]) -> dict[str, Any]:
        """Clean parameters as JSON: what the job stores and the task receives."""
        return _dump(cleaned)

    def normalize(self, raw: Any) -> dict[str, Any]:
        """``dump(validate(raw))``: the canonical JSON form of valid parameters."""
        return self.dump(self.validate(raw))


def params_object(
    properties: Mapping[str, Mapping[str, Any]], required: Sequence[str] = (), **extra: Any
) -> dict[str, Any]:
    """An object schema with declared properties only (unknown keys are refused)."""
    out: dict[str, Any] = {
        "type": "object",
        "properties": dict(properties),
        "additionalProperties": False,
        **extra,
    }
    if required:
        out["required"] = list(required)
    return out
