"""The alert rules and Grafana dashboards, checked offline.

deploy/monitoring/validate runs promtool (rules, their unit tests, every
dashboard expression) and the conventions check; these tests run it, then
assert the contract again in Python (each required alert exists, is tested
firing and quiet, has a runbook) and show that the checker itself catches
what it is meant to catch. The tools are installed by
deploy/tools/install-ops-tools when missing, never skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

# The first run downloads Debian's prometheus package and the ops venv.
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
PROMTOOL = ROOT / ".tools" / "prometheus" / "usr" / "bin" / "promtool"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"

REQUIRED_ALERTS = {
    "TaskqueueHighFailureRate": "high failure rate",
    "TaskqueueConsumerLagHigh": "lag above a threshold for N minutes",
    "TaskqueueOldestJobTooOld": "oldest job older than N",
    "TaskqueueNoWorkerUp": "no worker up",
    "TaskqueueDeadLettersArriving": "dead letters arriving",
    "TaskqueueWebHighErrorRate": "web 5xx rate",
    "TaskqueueBeatNoLeader": "beat without a leader",
}
REQUIRED_DASHBOARDS = {"overview", "workers", "web", "kafka"}


@pytest.fixture(scope="module")
def tools() -> None:
    subprocess.run([str(ROOT / "deploy" / "tools" / "install-ops-tools")], check=True)


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_monitoring", MONITORING / "check_monitoring.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alert_rules() -> dict[str, dict[str, Any]]:
    rules = {}
    for path in sorted((MONITORING / "rules").glob("*.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rules[rule["alert"]] = rule
    return rules


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (MONITORING / "dashboards").glob("*.json")}


def panel_expressions(board: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def test_monitoring_validate_passes(tools) -> None:
    result = subprocess.run(
        [str(MONITORING / "validate")], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 findings" in result.stderr


def test_every_required_alert_exists_with_severity_and_runbook(checker) -> None:
    rules = alert_rules()
    assert set(REQUIRED_ALERTS) <= set(rules), set(REQUIRED_ALERTS) - set(rules)
    anchors = checker.runbook_anchors(OPERATIONS_DOC)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert rule["annotations"]["runbook_url"] == f"docs/operations.md#{name.lower()}"
        assert name.lower() in anchors, f"docs/operations.md has no heading {name}"


def test_every_alert_has_a_promtool_case_firing_and_one_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in (MONITORING / "tests").glob("*.yaml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for alert_test in case.get("alert_rule_test", []):
                name = alert_test["alertname"]
                (firing if alert_test.get("exp_alerts") else quiet).add(name)
    rules = set(alert_rules())
    assert rules <= firing, f"never shown firing: {rules - firing}"
    assert rules <= quiet, f"never shown quiet: {rules - quiet}"


def test_dashboards_have_unique_uids_and_use_the_datasource_variable() -> None:
    boards = dashboards()
    assert set(boards) >= REQUIRED_DASHBOARDS
    uids = [board["uid"] for board in boards.values()]
    assert len(uids) == len(set(uids)), uids
    for name, board in boards.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${datasource}", (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}", (name, panel["title"])


def test_overview_shows_throughput_failures_runtime_quantiles_lag_and_oldest_job() -> None:
    exprs = "\n".join(panel_expressions(dashboards()["overview"]))
    for metric in (
        "taskqueue_jobs_succeeded_total",
        "taskqueue_jobs_failed_total",
        "taskqueue_job_runtime_seconds_bucket",
        "taskqueue_consumer_lag_messages",
        "taskqueue_oldest_unprocessed_job_age_seconds",
    ):
        assert metric in exprs, metric
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in exprs
    assert "sum by (queue) (taskqueue_consumer_lag_messages" in exprs


def test_kafka_dashboard_uses_the_kafka_exporter() -> None:
    exprs = "\n".join(panel_expressions(dashboards()["kafka"]))
    for metric in (
        "kafka_consumergroup_lag",
        "kafka_topic_partition_current_offset",
        "kafka_brokers",
    ):
        assert metric in exprs, metric


def test_checker_finds_unknown_metrics_unparsable_expressions_and_bad_datasources(
    tools, checker, tmp_path
) -> None:
    board = {
        "uid": "broken",
        "templating": {"list": [{"name": "datasource", "type": "datasource"}]},
        "panels": [
            {
                "id": 1,
                "type": "timeseries",
                "title": "typo",
                "datasource": {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"},
                "targets": [
                    {
                        "refId": "A",
                        "expr": "sum(rate(taskqueue_jobs_startd_total[$__rate_interval]))",
                    },
                    {"refId": "B", "expr": 'sum by (queue (taskqueue_worker_up{queue=~"$queue"})'},
                ],
            }
        ],
    }
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(board))
    second.write_text(json.dumps(board))
    allowed = checker.load_allowed_metrics(MONITORING / "metric-names.txt")

    findings, expressions = checker.check_dashboards([first, second], allowed)
    findings += checker.promtool_parse_findings(str(PROMTOOL), expressions[:2])

    text = "\n".join(findings)
    assert "unknown metric 'taskqueue_jobs_startd_total'" in text
    assert "uid 'broken' is also a.json's" in text
    assert "datasource 'P1809F7CD0C75ACF3'" in text
    assert "panel 1 'typo' B: does not parse" in text
    assert "panel 1 'typo' A: does not parse" not in text


def test_grafana_variables_become_concrete_values(checker) -> None:
    expr = 'rate(x{queue=~"$queue", group=~"${worker_group}"}[$__rate_interval])'
    assert checker.substitute_variables(expr) == 'rate(x{queue=~".*", group=~".*"}[5m])'


def test_metric_names_skip_functions_labels_and_keywords(checker) -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, task) (rate(a_bucket{task="b"}[5m])))'
        " / on (instance) group_left c_total offset 5m and vector(1) > bool 2e3"
    )
    assert checker.metric_names(expr) == {"a_bucket", "c_total"}


def test_checker_finds_an_alert_without_test_or_runbook(checker, tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "g",
                        "rules": [
                            {
                                "alert": "Untested",
                                "expr": "up == 0",
                                "labels": {},
                                "annotations": {"runbook_url": "docs/operations.md#nowhere"},
                            }
                        ],
                    }
                ]
            }
        )
    )
    findings = checker.check_rules([rules], set(), {"somewhere"}, {"up"})
    text = "\n".join(findings)
    assert "no severity label" in text
    assert "no summary annotation" in text
    assert "is no docs/operations.md heading" in text
    assert "no promtool test case" in text


def test_allowed_project_metrics_are_defined_in_the_code() -> None:
    sources = "\n".join(
        path.read_text()
        for package in ("taskqueue", "jobs")
        for path in (ROOT / package).rglob("*.py")
        if "/v1/" not in str(path)
    )
    for name in allowed_names(("taskqueue_", "graphql_")):
        family = strip_sample_suffix(name)
        assert f'"{family}"' in sources, f"{name} is in metric-names.txt, not in the code"


def test_allowed_django_metrics_are_what_django_prometheus_exports() -> None:
    """The installed django-prometheus registers every django_* name allowed."""
    program = (
        "import django, json; django.setup()\n"
        "from prometheus_client import REGISTRY\n"
        "from django_prometheus.middleware import Metrics; Metrics.get_instance()\n"
        "import django_prometheus.db.metrics\n"
        "suffixes = {'counter': ['_total'], 'gauge': [''],"
        " 'histogram': ['_bucket', '_sum', '_count']}\n"
        "print(json.dumps(sorted(f.name + s for f in REGISTRY.collect()"
        " for s in suffixes.get(f.type, []))))\n"
    )
    exported = json.loads(
        subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        ).stdout
    )
    missing = set(allowed_names(("django_",))) - set(exported)
    assert not missing, f"not exported by django-prometheus: {missing}"


def allowed_names(prefixes: tuple[str, ...]) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in (MONITORING / "metric-names.txt").open())
    return [line for line in lines if line.startswith(prefixes)]


def strip_sample_suffix(name: str) -> str:
    for suffix in ("_total", "_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_grafana_provisioning_loads_the_dashboards_folder_and_a_prometheus_source() -> None:
    provisioning = MONITORING / "grafana" / "provisioning"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "taskqueue.yaml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file" and provider["options"]["path"]
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus"
