"""A provider: a name, a parameter schema and the function that does the work."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from providers.settings import ProviderSettings

from .conf import provider_settings
from .http import ClientPool, Progress, no_progress
from .schema import Schema

Execute = Callable[[dict[str, Any], Progress, ProviderSettings, ClientPool | None], dict[str, Any]]
"""Does the work on *clean* parameters and returns the result document."""


@dataclass(frozen=True)
class Provider:
    """What the registry, the GraphQL ``providers`` query and the tasks use."""

    name: str
    title: str
    description: str
    schema: Schema
    execute: Execute

    def validate(self, params: Any) -> dict[str, Any]:
        """Clean, typed parameters or :class:`providers.schema.ValidationError`."""
        return self.schema.validate(params)

    def normalize(self, params: Any) -> dict[str, Any]:
        """Valid parameters as canonical JSON (defaults filled): what a job stores."""
        return self.schema.normalize(params)

    def run(
        self,
        params: Mapping[str, Any],
        progress: Progress = no_progress,
        *,
        config: ProviderSettings | None = None,
        pool: ClientPool | None = None,
    ) -> dict[str, Any]:
        """Validate ``params`` (again: a queued message is input too) and do the work.

        Returns the JSON-serialisable result document; raises
        ``ValidationError`` or a :class:`providers.errors.ProviderError`.
        """
        clean = self.schema.validate(params)
        return self.execute(clean, progress, config or provider_settings(), pool)

    def describe(self) -> dict[str, Any]:
        """Name, words and the parameters' JSON Schema (the UI renders its form from it)."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "params_schema": self.schema.json_schema(),
        }
