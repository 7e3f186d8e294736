"""The Dockerfiles' structure (no container engine can build them here):
multi-stage, pinned bases, a non-root final stage without build tools, and
entrypoints that exist in the project."""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from taskqueue.cli import _parser

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
IMAGES = ("web", "worker", "beat")
PINNED_BASES = {
    "python": re.compile(r"^python:3\.11\.\d+-slim-bookworm$"),
    "node": re.compile(r"^node:20\.\d+\.\d+-bookworm-slim$"),
}
BUILD_TOOLS = re.compile(r"\b(apt-get|apk|pip install|npm|gcc|make|build-essential)\b")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def stages(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, each with its instructions (continuations joined)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""
            result.append(Stage(parts[0], name))
        else:
            result[-1].instructions.append((keyword, args.strip()))
    return result


def exec_form(args: str) -> list[str]:
    return ast.literal_eval(args)


def env_of(stage: Stage) -> dict[str, str]:
    env = {}
    for args in stage.all("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


@pytest.mark.parametrize("image", IMAGES)
def test_image_is_multi_stage_with_pinned_bases(image):
    found = stages(DOCKER / f"{image}.Dockerfile")
    assert len(found) >= 2
    names = [s.name for s in found]
    assert all(names) and len(set(names)) == len(names), "every stage is named"
    for stage in found:
        family = stage.base.split(":")[0]
        assert PINNED_BASES[family].match(stage.base), f"{stage.base} is not pinned"
    # Every COPY --from names an earlier stage.
    for i, stage in enumerate(found):
        for args in stage.all("COPY"):
            source = re.search(r"--from=(\S+)", args)
            if source:
                assert source.group(1) in names[:i]


@pytest.mark.parametrize("image", IMAGES)
def test_final_stage_runs_as_a_non_root_user_without_build_tools(image):
    final = stages(DOCKER / f"{image}.Dockerfile")[-1]
    users = final.all("USER")
    assert users, "the final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    for args in final.all("RUN"):
        assert not BUILD_TOOLS.search(args), f"build tool in the final stage: {args}"
    # Only built artefacts enter it: everything copied comes from a stage.
    assert all("--from=" in args for args in final.all("COPY"))


def test_web_image_builds_the_ui_in_a_node_stage_and_serves_the_asgi_app():
    found = stages(DOCKER / "web.Dockerfile")
    assert found[0].base.startswith("node:")
    assert any("npm run build" in run for run in found[0].all("RUN"))
    final = found[-1]
    assert all(not s.base.startswith("node:") for s in found[1:])
    entry = exec_form(final.all("ENTRYPOINT")[-1])
    assert entry[0] == "daphne"
    module, _, attribute = entry[-1].partition(":")
    source = (ROOT / Path(*module.split("."))).with_suffix(".py")
    tree = ast.parse(source.read_text())
    assigned = {
        t.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    assert attribute in assigned, f"{entry[-1]} is not defined"


@pytest.mark.parametrize("image,command", [("worker", "worker"), ("beat", "beat")])
def test_worker_and_beat_entrypoints_are_commands_of_the_cli(image, command):
    final = stages(DOCKER / f"{image}.Dockerfile")[-1]
    entry = exec_form(final.all("ENTRYPOINT")[-1])
    cmd = exec_form(final.all("CMD")[-1]) if final.all("CMD") else []
    assert entry[:3] == ["python", "-m", "taskqueue"]
    args = _parser().parse_args(entry[3:] + cmd)  # exits (fails) on an unknown option
    assert args.command == command
    module, _, attribute = args.app.partition(":")
    assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file()


def test_worker_healthcheck_probes_the_health_port_the_image_configures():
    final = stages(DOCKER / "worker.Dockerfile")[-1]
    port = env_of(final)["TASKQUEUE_HEALTH_PORT"]
    assert env_of(final)["TASKQUEUE_CONTROL_HOST"] == "0.0.0.0"  # reachable from the kubelet
    (healthcheck,) = final.all("HEALTHCHECK")
    assert f"127.0.0.1:{port}/healthz" in healthcheck
    assert port in final.all("EXPOSE")[-1].split()


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".stack", ".tools", "frontend/node_modules"} <= ignored
    # ...but not what the images need.
    for needed in ("taskqueue", "config", "jobs", "frontend", "requirements.txt", "protos"):
        assert needed not in ignored
