"""Arrows point one way (DESIGN.md section 2), checked on the source, not by importing it.

- ``taskqueue`` (outside ``taskqueue/contrib/django/``) imports no Django,
  graphene or channels, and none of the apps or the project;
- ``jobs`` never imports ``progress`` (``progress -> jobs`` only);
- no app (``jobs``, ``progress``, ``providers``) imports the project, ``config``.

Every ``import``/``from ... import`` counts, including those inside
functions and ``TYPE_CHECKING`` blocks: a deferred import is still a
dependency, only a hidden one. Relative imports are resolved against the
file's package, so ``from ..config import x`` cannot slip through.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

DJANGO_WORLD = frozenset(
    {"django", "graphene", "graphene_django", "graphql_ws", "channels", "channels_redis", "daphne"}
)
"""Top-level packages that only ``taskqueue.contrib.django`` and the apps may use."""

APPS = frozenset({"jobs", "progress", "providers"})
PROJECT = "config"


@dataclass(frozen=True)
class Rule:
    """Files under ``package`` (minus ``exempt``) must not import any of ``forbidden``."""

    package: str
    forbidden: frozenset[str]
    why: str
    exempt: tuple[str, ...] = ()


RULES = (
    Rule(
        "taskqueue",
        DJANGO_WORLD | APPS | {PROJECT},
        "the framework works without Django and knows no app",
        exempt=("taskqueue.contrib.django",),
    ),
    Rule("jobs", frozenset({"progress", PROJECT}), "progress -> jobs only; no app imports config"),
    Rule("progress", frozenset({PROJECT}), "apps never import the project (config)"),
    Rule("providers", frozenset({PROJECT}), "apps never import the project (config)"),
)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.imported} ({self.why})"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in ``source``."""
    found: list[tuple[int, str]] = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if node.module is None:
                # ``from . import a, b``: each name may be a module of its own.
                found.extend((node.lineno, f"{target}.{a.name}".strip(".")) for a in node.names)
            else:
                found.append((node.lineno, target))
    return found


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(root: Path) -> list[Violation]:
    out = []
    for rule in RULES:
        for path in sorted((root / rule.package).rglob("*.py")):
            module = module_name(path, root)
            if any(_within(module, exempt) for exempt in rule.exempt):
                continue
            source = path.read_text(encoding="utf-8")
            for line, imported in imported_modules(source, module, path.name == "__init__.py"):
                if imported.split(".")[0] in rule.forbidden:
                    out.append(Violation(str(path.relative_to(root)), line, imported, rule.why))
    return out


@pytest.mark.fast
def test_imports_point_one_way() -> None:
    found = violations(ROOT)
    assert not found, "layering broken:\n" + "\n".join(map(str, found))


@pytest.mark.fast
def test_every_layer_is_scanned() -> None:
    # A renamed or moved package would make the check above pass vacuously.
    for rule in RULES:
        assert list((ROOT / rule.package).rglob("*.py")), f"no Python files under {rule.package}/"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in ("taskqueue", "jobs", "progress", "providers"):
        (tmp_path / package).mkdir(exist_ok=True)
    return tmp_path


@pytest.mark.fast
def test_the_check_names_file_and_line_of_each_violation(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "taskqueue/worker/run.py": "import os\n\ndef f():\n    from django.db import models\n",
            "taskqueue/contrib/django/apps.py": "from django.apps import AppConfig\n",
            "jobs/api/view.py": "from progress.rpc import ask\n",
            "jobs/tasks.py": "def app():\n    import config.taskqueue as project\n",
            "progress/schema.py": "from jobs.models import Job\n",
            # The app's own module named config is not the project.
            "providers/__init__.py": "from . import config\n",
            "providers/base.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    import config.environment\n"
            ),
        },
    )
    found = {(v.path, v.line, v.imported) for v in violations(root)}
    assert found == {
        ("taskqueue/worker/run.py", 4, "django.db"),
        ("jobs/api/view.py", 1, "progress.rpc"),
        ("jobs/tasks.py", 2, "config.taskqueue"),
        ("providers/base.py", 3, "config.environment"),
    }, "contrib.django may use Django; progress -> jobs is allowed"


@pytest.mark.fast
def test_relative_imports_resolve_against_the_package() -> None:
    assert imported_modules("from .base import X", "providers.tasks", False) == [
        (1, "providers.base")
    ]
    assert imported_modules("from . import base", "providers", True) == [(1, "providers.base")]
    assert imported_modules("from ..live import state", "jobs.api.types", False) == [
        (1, "jobs.live")
    ]
    assert imported_modules("from .. import live", "jobs.api", True) == [(1, "jobs.live")]
