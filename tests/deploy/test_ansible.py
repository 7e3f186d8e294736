"""The Ansible playbooks and the Jenkinsfile, checked offline.

ansible/validate runs ansible-playbook --syntax-check, ansible-lint
--offline and yamllint; deploy/jenkins/validate runs npm-groovy-lint. The
tests below run both and assert what the pipeline must do: its stages in
order, the approval gate before production on main only, the rollback on
failure, and that it builds, pushes and deploys the same images that the
overlays and the deploy role name. The tools are installed by
deploy/tools/install-ops-tools when missing, never skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

# The first run installs Ansible and npm-groovy-lint.
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "ansible"
JENKINSFILE = (ROOT / "Jenkinsfile").read_text()

PIPELINE_STAGES = [
    "Lint",
    "Test",
    "Validate deploy files",
    "Build images",
    "Push to ACR",
    "Deploy to staging",
    "Smoke test staging",
    "Approve production",
    "Deploy to production",
    "Smoke test production",
]


@pytest.fixture(scope="module")
def tools() -> None:
    subprocess.run([str(ROOT / "deploy" / "tools" / "install-ops-tools")], check=True)


def run(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(script)], capture_output=True, text=True, cwd=ROOT)


def block_after(text: str, start: int) -> str:
    """The text of the {...} block that opens at or after `start`."""
    opening = text.index("{", start)
    depth = 0
    for index in range(opening, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[opening : index + 1]
    raise AssertionError("unbalanced braces")


def stage(name: str) -> str:
    return block_after(JENKINSFILE, JENKINSFILE.index(f"stage('{name}')"))


def test_ansible_validate_passes(tools) -> None:
    result = run(ANSIBLE / "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def test_jenkinsfile_passes_npm_groovy_lint(tools) -> None:
    result = run(ROOT / "deploy" / "jenkins" / "validate")
    assert result.returncode == 0, result.stdout + result.stderr


def test_pipeline_has_its_stages_in_order() -> None:
    assert re.findall(r"stage\('([^']+)'\)", JENKINSFILE) == PIPELINE_STAGES


def test_pipeline_runs_the_readme_test_command_and_the_deploy_checks() -> None:
    assert "scripts/test" in (ROOT / "README.md").read_text()
    assert "sh 'scripts/test'" in stage("Test")
    assert "sh 'scripts/validate-deploy'" in stage("Validate deploy files")


def test_production_waits_for_a_person_on_main_only() -> None:
    gate = stage("Approve production")
    assert "when { branch 'main' }" in gate
    assert re.search(r"\binput message:", gate)
    for name in PIPELINE_STAGES[PIPELINE_STAGES.index("Push to ACR") :]:
        assert "when { branch 'main' }" in stage(name), name


def test_failure_rolls_back_what_was_deployed() -> None:
    post = block_after(JENKINSFILE, JENKINSFILE.rindex("post {"))
    failure = block_after(post, post.index("failure"))
    assert "rollback.yml" in failure
    assert "DEPLOYED_ENVIRONMENTS" in failure
    assert "env.DEPLOYED_ENVIRONMENTS = 'staging'" in stage("Deploy to staging")
    assert "env.DEPLOYED_ENVIRONMENTS = 'staging prod'" in stage("Deploy to production")


def test_images_built_pushed_and_deployed_are_the_same() -> None:
    images = re.search(r"return \[([^\]]*)\]", JENKINSFILE)
    assert images
    names = re.findall(r"'([\w-]+)'", images.group(1))
    for name in names:
        assert (ROOT / "deploy" / "docker" / f"{name}.Dockerfile").is_file(), name
    assert "taskqueue-${image}:${env.GIT_COMMIT}" in stage("Build images")
    assert "taskqueue-${image}:${env.GIT_COMMIT}" in stage("Push to ACR")
    assert "image_tag=${env.GIT_COMMIT}" in JENKINSFILE

    deploy_defaults = yaml.safe_load((ANSIBLE / "roles/app_deploy/defaults/main.yml").read_text())
    assert deploy_defaults["app_deploy_images"] == [f"taskqueue-{name}" for name in names]
    for overlay in ("staging", "prod"):
        kustomization = yaml.safe_load(
            (ROOT / "deploy/k8s/overlays" / overlay / "kustomization.yaml").read_text()
        )
        registry_names = {image["newName"] for image in kustomization["images"]}
        assert registry_names == {f"taskqueuecr.azurecr.io/taskqueue-{name}" for name in names}


def test_operators_are_installed_at_pinned_versions() -> None:
    tasks = yaml.safe_load((ANSIBLE / "roles/cluster_operators/tasks/main.yml").read_text())
    defaults = yaml.safe_load((ANSIBLE / "roles/cluster_operators/defaults/main.yml").read_text())
    charts = {
        task["kubernetes.core.helm"]["chart_ref"]: task["kubernetes.core.helm"]["chart_version"]
        for task in tasks
        if "kubernetes.core.helm" in task
    }
    assert set(charts) == {"strimzi-kafka-operator", "keda", "kube-prometheus-stack"}
    for chart, version in charts.items():
        variable = version.strip("{} ")
        assert re.fullmatch(r"\d+\.\d+\.\d+", defaults[variable]), (chart, defaults[variable])


def test_deploy_applies_the_overlay_waits_for_rollout_and_checks_healthz() -> None:
    playbook = yaml.safe_load((ANSIBLE / "deploy.yml").read_text())
    roles = [role["role"] for role in playbook[0]["roles"]]
    assert roles == ["app_deploy", "smoke_check"]
    tasks = (ANSIBLE / "roles/app_deploy/tasks/main.yml").read_text()
    assert "lookup('kubernetes.core.kustomize'" in tasks
    assert "kubernetes.core.k8s_info" in tasks and "wait: true" in tasks
    template = (ANSIBLE / "roles/app_deploy/templates/kustomization.yaml.j2").read_text()
    assert "app_deploy_overlay_dir" in template and 'newTag: "{{ image_tag }}"' in template
    smoke = yaml.safe_load((ANSIBLE / "roles/smoke_check/defaults/main.yml").read_text())
    assert smoke["smoke_check_url"].endswith("/healthz")


def test_deploy_role_builds_the_overlay_with_the_commit_as_image_tag(tools) -> None:
    """deploy.yml's own tasks, up to the apply (`--tags render`), on staging."""
    subprocess.run([str(ROOT / "deploy" / "tools" / "install-k8s-tools")], check=True)
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
        "ANSIBLE_HOME": str(ROOT / ".tools" / "ansible-home"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
    }
    result = subprocess.run(
        [
            str(ROOT / ".tools" / "ops-venv" / "bin" / "ansible-playbook"),
            "-i",
            str(ANSIBLE / "inventories" / "staging"),
            str(ANSIBLE / "deploy.yml"),
            "--tags",
            "render",
            "-e",
            "image_tag=0123abcd",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    results = {
        task["task"]["name"]: task["hosts"]["localhost"]
        for play in json.loads(result.stdout)["plays"]
        for task in play["tasks"]
    }
    manifests = results["app_deploy : Build the overlay with the tag"]["ansible_facts"][
        "app_deploy_manifests"
    ]
    images = {
        deployment["metadata"]["name"]: {
            container["image"] for container in deployment["spec"]["template"]["spec"]["containers"]
        }
        for deployment in manifests
        if deployment["kind"] == "Deployment"
    }
    assert {"web", "beat"} <= set(images)
    assert any(name.startswith("worker-") for name in images)
    for name, used in images.items():
        assert len(used) == 1, name
        (image,) = used
        assert image.startswith("taskqueuecr.azurecr.io/taskqueue-"), image
        assert image.endswith(":0123abcd"), image
    assert {m["metadata"].get("namespace") for m in manifests if m["kind"] == "Deployment"} == {
        "taskqueue"
    }
    # Nothing was applied: the apply and wait tasks are not tagged render.
    assert "app_deploy : Apply it" not in results
    assert results["app_deploy : Remove the pinned kustomization"]["changed"]
