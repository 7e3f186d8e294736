"""The worker caps glibc's malloc arenas (``taskqueue.worker.malloc``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.fast

PROBE = """
import sys
from taskqueue.worker.malloc import limit_malloc_arenas
print(limit_malloc_arenas(int(sys.argv[1])))
"""


def _applied(arenas: int, env: dict[str, str]) -> str:
    # A fresh process: the cap is process-wide and must not leak into the tests.
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(arenas)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_cap_applies_unless_zero_or_the_environment_chose() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _applied(2, env) == "True"
    assert _applied(0, env) == "False"
    assert _applied(2, {**env, "MALLOC_ARENA_MAX": "4"}) == "False"
