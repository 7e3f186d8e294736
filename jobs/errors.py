"""Errors the jobs layer reports to people: each names a field and a rule.

The same shape reaches GraphQL payloads (``errors: [{field, rule,
message}]``), top-level GraphQL errors (``extensions``) and the admin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One refused input: ``field`` is a path such as ``params.places[0].latitude``."""

    field: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class JobError(Exception):
    """A request about jobs was refused; nothing was created or changed."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))

    @classmethod
    def one(cls, field: str, rule: str, message: str) -> JobError:
        return cls([Problem(field, rule, message)])


class NotQueued(JobError):
    """Kafka did not acknowledge the job(s): they are marked FAILURE, not queued."""
