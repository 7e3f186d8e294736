"""Declarative parameter schemas: one validator, one JSON description.

A provider declares its parameters once (``Schema`` of ``Field`` objects).
The same declaration

- validates raw parameters (JSON from GraphQL or the UI) into clean, typed
  values, or raises :class:`ValidationError` listing every field error
  (path, rule, message), and
- describes itself as JSON (``describe()``) for the GraphQL ``providers``
  query and the UI form: types, defaults, limits and help text.

The validator is strict on purpose: unknown parameters, wrong JSON types
(``true`` is not an integer, ``"3"`` is not a number), values out of range
and oversized documents are refused, never coerced. Parameters can only ever
fill query strings and single path segments: no field type accepts a URL, and
hosts come from settings alone.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

MAX_ERRORS = 20
"""A wildly wrong document gets this many field errors, not thousands."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
"""Control characters have no place in a name, tag or slug (CR/LF above all)."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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


class _Invalid:
    """Marks a value that failed (its errors are already recorded)."""


INVALID = _Invalid()


class _Errors:
    """Collects field errors; ``len()`` counts them all, even past MAX_ERRORS."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []
        self.total = 0

    def __len__(self) -> int:
        return self.total

    def add(self, path: str, rule: str, message: str) -> _Invalid:
        self.total += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append(FieldError(path, rule, message))
        return INVALID


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


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


# --- fields -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Field:
    """A parameter. ``default`` is used when the value is absent or null."""

    json_type: ClassVar[str] = "any"

    help: str = ""
    required: bool = False
    default: Any = None
    example: Any = None

    def clean(self, value: Any, path: str, errors: _Errors) -> Any:
        raise NotImplementedError

    def limits(self) -> dict[str, Any]:
        """The field's rules as JSON (JSON Schema keyword names where one fits)."""
        return {}

    def dump(self, value: Any) -> Any:
        """A clean value back to JSON (dates become ISO strings)."""
        return value

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.json_type, "required": self.required}
        if self.default is not None:
            out["default"] = self.dump(self.default)
        if self.help:
            out["help"] = self.help
        if self.example is not None:
            out["example"] = self.example
        out.update(self.limits())
        return out


@dataclass(frozen=True, kw_only=True)
class String(Field):
    """Text. Surrounding whitespace is removed; control characters are refused."""

    json_type: ClassVar[str] = "string"

    min_length: int = 1
    max_length: int = 100
    pattern: str | None = None
    format: str | None = None
    pattern_message: str = ""
    choices: tuple[str, ...] = ()

    def clean(self, value: Any, path: str, errors: _Errors) -> Any:
        if not isinstance(value, str):
            return errors.add(path, "type", f"expected a string, got {_type_name(value)}")
        value = value.strip()
        if _CONTROL.search(value):
            return errors.add(path, "characters", "must not contain control characters")
        if len(value) < self.min_length:
            return errors.add(
                path, "min_length", f"must be at least {self.min_length} characters long"
            )
        if len(value) > self.max_length:
            return errors.add(
                path, "max_length", f"must be at most {self.max_length} characters long"
            )
        if self.choices and value not in self.choices:
            return errors.add(path, "choices", f"must be one of: {', '.join(self.choices)}")
        if self.pattern and not re.fullmatch(self.pattern, value):
            what = self.pattern_message or f"must match {self.pattern}"
            return errors.add(path, "format" if self.format else "pattern", what)
        return value

    def limits(self) -> dict[str, Any]:
        out: dict[str, Any] = {"minLength": self.min_length, "maxLength": self.max_length}
        if self.pattern:
            out["pattern"] = self.pattern
        if self.format:
            out["format"] = self.format
        if self.choices:
            out["enum"] = list(self.choices)
        return out


@dataclass(frozen=True, kw_only=True)
class Integer(Field):
    """A whole number within [minimum, maximum] (both always declared)."""

    json_type: ClassVar[str] = "integer"

    minimum: int
    maximum: int

    def clean(self, value: Any, path: str, errors: _Errors) -> Any:
        # bool is an int subclass in Python; JSON's true is not a number.
        if isinstance(value, bool) or not isinstance(value, int):
            return errors.add(path, "type", f"expected an integer, got {_type_name(value)}")
        if value < self.minimum:
            return errors.add(path, "minimum", f"must be at least {self.minimum}")
        if value > self.maximum:
            return errors.add(path, "maximum", f"must be at most {self.maximum}")
        return value

    def limits(self) -> dict[str, Any]:
        return {"minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True, kw_only=True)
class Number(Field):
    """A finite number (integer or decimal) within [minimum, maximum]."""

    json_type: ClassVar[str] = "number"

    minimum: float
    maximum: float

    def clean(self, value: Any, path: str, errors: _Errors) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return errors.add(path, "type", f"expected a number, got {_type_name(value)}")
        if not math.isfinite(value):
            return errors.add(path, "type", "must be a finite number")
        if value < self.minimum:
            return errors.add(path, "minimum", f"must be at least {self.minimum:g}")
        if value > self.maximum:
            return errors.add(path, "maximum", f"must be at most {self.maximum:g}")
        return float(value)

    def limits(self) -> dict[str, Any]:
        return {"minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True, kw_only=True)
class Boolean(Field):
    json_type: ClassVar[str] = "boolean"

    def clean(self, value: Any, path: str, errors: _Errors) -> Any:
        if not isinstance(value, bool):
            return errors.add(path, "type", f"expected true or false, got {_type_name(value)}")
        return value


@dataclass(frozen=True, kw_only=True)
class Date(Field):
    """An ISO date ``YYYY-MM-DD``, cleaned to ``datetime.date``.

    ``not_after_today`` is checked against today's UTC date at validation
    time, so a schema declared at import never goes stale.
    """

    json_type: ClassVar[str] = "string"

    minimum: dt.date | None = None
    not_after_today: bool = False

    def clean(self, value: Any, path: str, errors: _Errors) -> Any:
        if not isinstance(value, str):
            return errors.add(path, "type", f"expected a date string, got {_type_name(value)}")
        # date.fromisoformat alone would also take "20240131" and week dates.
        try:
            if not _ISO_DATE.fullmatch(value):
                raise ValueError
            day = dt.date.fromisoformat(value)
        except ValueError:
            return errors.add(path, "format", "must be a date written YYYY-MM-DD")
        if self.minimum and day < self.minimum:
            return errors.add(path, "minimum", f"must be on or after {self.minimum.isoformat()}")
        if self.not_after_today and day > today():
            return errors.add(path, "maximum", "must not be in the future")
        return day

    def dump(self, value: Any) -> Any:
        return value.isoformat() if isinstance(value, dt.date) else value

    def limits(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": "date"}
        if self.minimum:
            out["minimum"] = self.minimum.isoformat()
        if self.not_after_today:
            out["maximum"] = "today"
        return out


@dataclass(frozen=True, kw_only=True)
class List(Field):
    """An array of ``item`` values, between min_items and max_items long."""

    json_type: ClassVar[str] = "array"

    item: Field
    min_items: int = 0
    max_items: int
    unique: bool = False

    def clean(self, value: Any, path: str, errors: _Errors) -> Any:
        if not isinstance(value, list | tuple):
            return errors.add(path, "type", f"expected an array, got {_type_name(value)}")
        if len(value) < self.min_items:
            return errors.add(path, "min_items", f"must have at least {self.min_items} item(s)")
        if len(value) > self.max_items:
            return errors.add(path, "max_items", f"must have at most {self.max_items} item(s)")
        before = len(errors)
        cleaned = [self.item.clean(v, f"{path}[{i}]", errors) for i, v in enumerate(value)]
        if len(errors) > before:
            return INVALID
        if self.unique:
            seen: set[str] = set()
            for i, v in enumerate(cleaned):
                key = json.dumps(self.item.dump(v), sort_keys=True)
                if key in seen:
                    return errors.add(f"{path}[{i}]", "unique", "repeats an earlier item")
                seen.add(key)
        return cleaned

    def dump(self, value: Any) -> Any:
        return None if value is None else [self.item.dump(v) for v in value]

    def limits(self) -> dict[str, Any]:
        return {
            "items": self.item.describe(),
            "minItems": self.min_items,
            "maxItems": self.max_items,
            "uniqueItems": self.unique,
        }


Checker = Callable[[dict[str, Any], str], Iterable[FieldError]]


@dataclass(frozen=True)
class Check:
    """A rule across fields, run once every field it reads is valid."""

    description: str
    fn: Checker


@dataclass(frozen=True, kw_only=True)
class Object(Field):
    """A JSON object with declared fields only (unknown keys are refused)."""

    json_type: ClassVar[str] = "object"

    fields: Mapping[str, Field]
    checks: Sequence[Check] = ()

    def clean(self, value: Any, path: str, errors: _Errors) -> Any:
        if not isinstance(value, Mapping):
            return errors.add(path, "type", f"expected an object, got {_type_name(value)}")
        before = len(errors)
        for key in value:
            if key not in self.fields:
                shown = key if isinstance(key, str) and len(key) <= 40 else f"{str(key)[:40]}..."
                errors.add(
                    _join(path, shown),
                    "unknown",
                    f"unknown parameter; expected: {', '.join(self.fields)}",
                )
        cleaned: dict[str, Any] = {}
        for name, spec in self.fields.items():
            raw = value.get(name)
            if raw is None:
                if spec.required:
                    errors.add(_join(path, name), "required", "is required")
                cleaned[name] = spec.default
                continue
            cleaned[name] = spec.clean(raw, _join(path, name), errors)
        if len(errors) > before:
            return INVALID
        for check in self.checks:
            for error in check.fn(cleaned, path):
                errors.add(error.path, error.rule, error.message)
        return INVALID if len(errors) > before else cleaned

    def dump(self, value: Any) -> Any:
        if value is None:
            return None
        return {name: spec.dump(value[name]) for name, spec in self.fields.items()}

    def limits(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fields": [{"name": n, **f.describe()} for n, f in self.fields.items()]
        }
        if self.checks:
            out["rules"] = [c.description for c in self.checks]
        return out


# --- the schema ---------------------------------------------------------------


@dataclass(frozen=True)
class Schema:
    """A provider's parameters: validate raw JSON, dump clean values, describe."""

    fields: Mapping[str, Field]
    checks: Sequence[Check] = ()
    max_bytes: int = 4096
    _root: Object = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_root", Object(fields=self.fields, checks=self.checks))

    def validate(self, raw: Any) -> dict[str, Any]:
        """Clean, typed parameters (defaults filled in), or ValidationError."""
        errors = _Errors()
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            errors.add("", "type", f"parameters must be an object, got {_type_name(raw)}")
            raise ValidationError(errors.items)
        try:
            size = len(json.dumps(raw, ensure_ascii=False).encode())
        except (TypeError, ValueError):
            errors.add("", "type", "parameters must be plain JSON values")
            raise ValidationError(errors.items) from None
        if size > self.max_bytes:
            # Refused before any field is looked at: no work for a huge document.
            errors.add("", "size", f"parameters are {size} bytes; the limit is {self.max_bytes}")
            raise ValidationError(errors.items)
        cleaned = self._root.clean(raw, "", errors)
        if len(errors) or cleaned is INVALID:
            raise ValidationError(errors.items)
        return cleaned

    def dump(self, cleaned: Mapping[str, Any]) -> dict[str, Any]:
        """Clean parameters as JSON: what the job stores and the task receives."""
        return self._root.dump(cleaned)

    def normalize(self, raw: Any) -> dict[str, Any]:
        """``dump(validate(raw))``: the canonical JSON form of valid parameters."""
        return self.dump(self.validate(raw))

    def describe(self) -> dict[str, Any]:
        """The JSON description the GraphQL ``providers`` query and UI form use."""
        out = self._root.limits()
        out["maxBytes"] = self.max_bytes
        return out


def today() -> dt.date:
    """Today in UTC: the upstream APIs all count days in UTC."""
    return dt.datetime.now(dt.UTC).date()
