"""The files the UI is built and tested against match the server they talk to.

``frontend/src/graphql/schema.graphql`` is what the UI's operations are
validated against, and ``frontend/src/test/paramSchemas.json`` is what its
form tests render. A server change that is not exported to them would let
the UI's tests pass against a schema the server no longer has. Both files
are written by one command: ``scripts/ui-schema``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.schema import schema
from providers.registry import describe_all

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
REGENERATE = "run scripts/ui-schema and commit the files it writes"

pytestmark = pytest.mark.fast


def _without_header(text: str) -> str:
    """The SDL of the committed file: its leading comment lines are not schema."""
    lines = text.splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines).strip()


def test_committed_graphql_schema_is_the_servers() -> None:
    committed = _without_header((FRONTEND / "src/graphql/schema.graphql").read_text())
    served = str(schema).strip()
    assert committed == served, f"frontend/src/graphql/schema.graphql is stale: {REGENERATE}"


def test_ui_parameter_fixtures_are_the_servers_schemas() -> None:
    committed = json.loads((FRONTEND / "src/test/paramSchemas.json").read_text())
    served = {p["name"]: p["params_schema"] for p in describe_all()}
    assert committed == served, f"frontend/src/test/paramSchemas.json is stale: {REGENERATE}"
