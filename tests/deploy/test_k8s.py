"""Checks across the rendered Kubernetes resources of every overlay.

Each overlay is built with the project's kustomize (deploy/tools/
install-k8s-tools installs it when missing, never skipping), and the
resources are compared with each other and with the app's own settings:
selectors, scale targets, the KEDA triggers' topics and consumer groups,
the workers' grace period, and the partitions that bound the workers.
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jobs.taskapp import QUEUES
from taskqueue.config import Settings
from taskqueue.worker.main import consumer_groups

# The first run builds the Go tools (a few minutes on a fresh machine).
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
TOOLS = ROOT / ".tools" / "bin"
WORKLOADS = ("Deployment", "StatefulSet")

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def tools() -> Path:
    subprocess.run([str(ROOT / "deploy" / "tools" / "install-k8s-tools")], check=True)
    return TOOLS


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request, tools) -> list[Resource]:
    import yaml  # installed with the tools (requirements-deploy.txt)

    out = subprocess.run(
        [str(tools / "kustomize"), "build", str(K8S / "overlays" / request.param)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    (found,) = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    return found


def pod_labels(resources: list[Resource]) -> list[dict[str, str]]:
    return [
        w["spec"]["template"]["metadata"]["labels"]
        for k in WORKLOADS
        for w in of_kind(resources, k)
    ]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def container_env(resources: list[Resource], workload: Resource) -> dict[str, str]:
    """The container's environment: its ConfigMaps' data, then its own values."""
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(named(resources, "ConfigMap", source["configMapRef"]["name"])["data"])
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def worker_queues(worker: Resource) -> list[str]:
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    return args[args.index("--queues") + 1].split(",")


def workers(resources: list[Resource]) -> list[Resource]:
    return [
        d
        for d in of_kind(resources, "Deployment")
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        == "worker"
    ]


def test_workload_selectors_match_their_pod_labels(rendered):
    for kind in WORKLOADS:
        for workload in of_kind(rendered, kind):
            selector = workload["spec"]["selector"]["matchLabels"]
            assert matches(selector, workload["spec"]["template"]["metadata"]["labels"])


def test_services_pdbs_and_network_policies_select_pods_of_these_files(rendered):
    pods = pod_labels(rendered)
    for service in of_kind(rendered, "Service"):
        selector = service["spec"]["selector"]
        if selector.get("strimzi.io/cluster"):
            continue  # Strimzi's own pods (the Kafka Exporter)
        assert any(matches(selector, p) for p in pods), service["metadata"]["name"]
    for pdb in of_kind(rendered, "PodDisruptionBudget"):
        assert any(matches(pdb["spec"]["selector"]["matchLabels"], p) for p in pods)
    for policy in of_kind(rendered, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        assert any(matches(selector, p) for p in pods), policy["metadata"]["name"]


def test_service_monitors_select_services(rendered):
    services = [s["metadata"].get("labels", {}) for s in of_kind(rendered, "Service")]
    for monitor in of_kind(rendered, "ServiceMonitor"):
        assert any(matches(monitor["spec"]["selector"]["matchLabels"], s) for s in services)


def test_every_scale_target_exists_and_no_hpa_scales_workers(rendered):
    worker_names = {w["metadata"]["name"] for w in workers(rendered)}
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        for scaler in of_kind(rendered, kind):
            target = scaler["spec"]["scaleTargetRef"]
            assert target.get("kind", "Deployment") == "Deployment"
            named(rendered, "Deployment", target["name"])
    hpa_targets = {
        h["spec"]["scaleTargetRef"]["name"] for h in of_kind(rendered, "HorizontalPodAutoscaler")
    }
    assert not hpa_targets & worker_names, "KEDA, not an HPA of ours, scales the workers"
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(rendered, "ScaledObject")}
    assert scaled == worker_names, "every worker group has its ScaledObject"


def test_each_site_queue_is_served_by_exactly_one_worker_group(rendered):
    served = [q for w in workers(rendered) for q in worker_queues(w)]
    assert sorted(served) == sorted(QUEUES)


def test_keda_triggers_name_the_workers_topics_and_consumer_groups(rendered):
    for scaled in of_kind(rendered, "ScaledObject"):
        worker = named(rendered, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
        env = container_env(rendered, worker)
        settings = Settings.load(env=env)
        queues = worker_queues(worker)
        wanted = consumer_groups(settings, queues, settings.group_id)
        triggers = {t["metadata"]["topic"]: t["metadata"] for t in scaled["spec"]["triggers"]}
        assert all(t["type"] == "kafka" for t in scaled["spec"]["triggers"])
        assert set(triggers) == set(wanted), "one trigger per queue the worker serves"
        for topic, trigger in triggers.items():
            assert trigger["consumerGroup"] == wanted[topic]
            assert trigger["bootstrapServers"] == env["KAFKA_BOOTSTRAP_SERVERS"]
            assert int(trigger["lagThreshold"]) > 0


def test_worker_grace_period_outlasts_the_warm_shutdown(rendered):
    for worker in workers(rendered):
        settings = Settings.load(env=container_env(rendered, worker))
        grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > settings.shutdown_grace


def test_worker_liveness_is_the_workers_own_health_endpoint(rendered):
    image_env = _dockerfile_env(ROOT / "deploy" / "docker" / "worker.Dockerfile")
    for worker in workers(rendered):
        (container,) = worker["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        probe = container["livenessProbe"]["httpGet"]
        assert probe["path"] == "/healthz"
        assert ports[probe["port"]] == int(image_env["TASKQUEUE_HEALTH_PORT"])
        settings = Settings.load(env={**image_env, **container_env(rendered, worker)})
        # The worker gives up on a store outage itself before liveness kills it.
        live = container["livenessProbe"]
        assert live["periodSeconds"] * live["failureThreshold"] > settings.outage_shutdown_after


def test_workers_never_outnumber_their_topics_partitions(rendered):
    partitions = {
        t["spec"]["topicName"]: t["spec"]["partitions"] for t in of_kind(rendered, "KafkaTopic")
    }
    for scaled in of_kind(rendered, "ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            assert scaled["spec"]["maxReplicaCount"] <= partitions[trigger["metadata"]["topic"]]


def test_kafka_is_kraft_with_three_brokers_and_durable_topics(rendered):
    pools = of_kind(rendered, "KafkaNodePool")
    assert sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"]) == 3
    assert sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"]) >= 3
    (kafka,) = of_kind(rendered, "Kafka")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1" and "kafkaExporter" in kafka["spec"]
    for topic in of_kind(rendered, "KafkaTopic"):
        spec = topic["spec"]
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == "2"
        if spec["topicName"].endswith(".dead-letter"):
            assert spec["config"]["retention.ms"] == "-1"


def test_beat_runs_two_replicas_with_a_pdb(rendered):
    beat = named(rendered, "Deployment", "beat")
    assert beat["spec"]["replicas"] == 2
    named(rendered, "PodDisruptionBudget", "beat")


def test_committed_topics_are_what_the_command_prints():
    generate = _load_generate()
    assert (K8S / "base" / "kafka" / "topics.yaml").read_text() == generate.topics_yaml()


def test_kubeconform_rejects_a_misspelled_crd_field(tools, tmp_path):
    """The CRD schemas are strict: a typo in a KEDA field fails validation."""
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\n"
        "spec:\n  scaleTargetRef: {name: x}\n  maxReplicaCounts: 3\n"
        "  triggers: [{type: kafka, metadata: {bootstrapServers: b, consumerGroup: g,"
        " topic: t, lagThreshold: '1'}}]\n"
    )
    location = str(
        K8S / "schemas" / "{{ .Group }}" / "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
    )
    command = [str(tools / "kubeconform"), "-strict", "-schema-location", location]
    bad = subprocess.run([*command, str(manifest)], capture_output=True, text=True)
    assert bad.returncode != 0 and "maxReplicaCounts" in bad.stdout
    manifest.write_text(manifest.read_text().replace("maxReplicaCounts", "maxReplicaCount"))
    assert subprocess.run([*command, str(manifest)], capture_output=True).returncode == 0


def _dockerfile_env(path: Path) -> dict[str, str]:
    text = path.read_text().replace("\\\n", " ")
    final = text.split("\nFROM ")[-1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:]) if "=" in pair)
    return env


def _load_generate():
    spec = importlib.util.spec_from_file_location("deploy_k8s_generate", K8S / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
