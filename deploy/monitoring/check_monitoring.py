"""Offline checks of the alert rules and Grafana dashboards beyond promtool's.

Run by deploy/monitoring/validate (with .tools/ops-venv's Python, which has
PyYAML). Checks:

- every dashboard loads, has a uid no other dashboard has, declares the
  `datasource` template variable and names no datasource but `${datasource}`;
- every panel expression parses: each is written, with Grafana's template
  variables replaced by concrete values, into a recording rule file that
  `promtool check rules` reads;
- every expression of a dashboard or an alert rule names only metrics in
  deploy/monitoring/metric-names.txt;
- every alert has a severity, a summary, a description and a runbook_url
  whose anchor is a heading of docs/operations.md, and is the alertname of
  at least one `promtool test rules` case in deploy/monitoring/tests/.

Prints one line per finding and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

MONITORING = Path(__file__).resolve().parent
ROOT = MONITORING.parents[1]
DATASOURCE_REF = "${datasource}"
"""The only datasource uid a dashboard may name: the template variable."""

# Grafana's built-in interval variables, as Grafana would expand them for a
# typical 6-hour view; any other variable is a label filter (`=~"$queue"`),
# for which a match-all regex keeps the expression's shape.
BUILTIN_VARIABLES = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "6h",
    "__range_s": "21600",
    "__interval_ms": "60000",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")

PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "inf", "nan", "atan2",
}  # fmt: skip
"""Words that look like metric names in PromQL and are not."""
LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?")
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+),)?\s*(\w+)\s*\)\s*$")


def substitute_variables(expr: str) -> str:
    """The expression as Prometheus would receive it from Grafana."""

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return BUILTIN_VARIABLES.get(name, ".*")

    return VARIABLE.sub(value, expr)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (a lexical scan, enough for our PromQL)."""
    text = STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = LABEL_LIST.sub("", text)
    return {
        match.group(1)
        for match in IDENTIFIER.finditer(text)
        if match.group(2) is None and match.group(1) not in PROMQL_KEYWORDS
    }


def load_allowed_metrics(path: Path) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def dashboard_queries(board: dict) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and query variable of a dashboard."""
    uid = board.get("uid")
    for panel in _panels(board.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                where = (
                    f"{uid} panel {panel.get('id')} {panel.get('title')!r} {target.get('refId')}"
                )
                yield where, target["expr"]
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        labels = LABEL_VALUES.match(query)
        selector = labels.group(1) if labels else query
        if selector:
            yield f"{uid} variable {variable.get('name')}", selector


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def datasource_findings(board: dict) -> Iterator[str]:
    uid = board.get("uid")
    names = [v.get("name") for v in board.get("templating", {}).get("list", [])]
    if "datasource" not in names:
        yield f"{uid}: no `datasource` template variable"
    for panel in _panels(board.get("panels", [])):
        for holder in [panel, *panel.get("targets", [])]:
            source = holder.get("datasource")
            if source is None or panel.get("type") == "row":
                continue
            ref = source.get("uid") if isinstance(source, dict) else source
            if ref != DATASOURCE_REF:
                yield f"{uid} panel {panel.get('id')}: datasource {ref!r}, not {DATASOURCE_REF}"


def check_dashboards(paths: list[Path], allowed: set[str]) -> tuple[list[str], list[tuple]]:
    """Findings, and (where, expression) pairs left for promtool to parse."""
    findings: list[str] = []
    expressions: list[tuple[str, str]] = []
    seen_uids: dict[str, Path] = {}
    for path in paths:
        try:
            board = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            findings.append(f"{path.name}: not JSON: {error}")
            continue
        uid = board.get("uid")
        if not uid:
            findings.append(f"{path.name}: no uid")
        elif uid in seen_uids:
            findings.append(f"{path.name}: uid {uid!r} is also {seen_uids[uid].name}'s")
        else:
            seen_uids[uid] = path
        findings.extend(datasource_findings(board))
        for where, expr in dashboard_queries(board):
            concrete = substitute_variables(expr)
            expressions.append((where, concrete))
            for name in sorted(metric_names(concrete) - allowed):
                findings.append(f"{where}: unknown metric {name!r}")
    return findings, expressions


def promtool_parse_findings(promtool: str, expressions: list[tuple[str, str]]) -> list[str]:
    """Parse each expression with promtool, as the `expr` of a recording rule."""
    findings = []
    for where, expr in expressions:
        rules = {"groups": [{"name": "dashboard", "rules": [{"record": "check", "expr": expr}]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as rule_file:
            yaml.safe_dump(rules, rule_file)
            rule_file.flush()
            result = subprocess.run(
                [promtool, "check", "rules", rule_file.name], capture_output=True, text=True
            )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            findings.append(f"{where}: does not parse: {' '.join(detail[-2:])}: {expr}")
    return findings


def runbook_anchors(operations_doc: Path) -> set[str]:
    """GitHub's anchors for the doc's headings (lower case, spaces to dashes)."""
    anchors = set()
    for line in operations_doc.read_text().splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def tested_alertnames(test_paths: list[Path]) -> set[str]:
    names = set()
    for path in test_paths:
        for case in (yaml.safe_load(path.read_text()) or {}).get("tests", []):
            for alert_test in case.get("alert_rule_test", []):
                names.add(alert_test.get("alertname"))
    return names


def check_rules(
    rule_paths: list[Path], tested: set[str], anchors: set[str], allowed: set[str]
) -> list[str]:
    findings = []
    for path in rule_paths:
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                where = f"{path.name} {name}"
                for metric in sorted(metric_names(rule.get("expr", "")) - allowed):
                    findings.append(f"{where}: unknown metric {metric!r}")
                if "alert" not in rule:
                    continue
                if not rule.get("labels", {}).get("severity"):
                    findings.append(f"{where}: no severity label")
                annotations = rule.get("annotations", {})
                for key in ("summary", "description", "runbook_url"):
                    if not annotations.get(key):
                        findings.append(f"{where}: no {key} annotation")
                runbook = annotations.get("runbook_url", "")
                document, _, anchor = runbook.partition("#")
                if document != "docs/operations.md" or anchor not in anchors:
                    findings.append(
                        f"{where}: runbook_url {runbook!r} is no docs/operations.md heading"
                    )
                if name not in tested:
                    findings.append(f"{where}: no promtool test case in deploy/monitoring/tests/")
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promtool", required=True, help="path of the promtool binary")
    args = parser.parse_args(argv)

    allowed = load_allowed_metrics(MONITORING / "metric-names.txt")
    dashboards = sorted((MONITORING / "dashboards").glob("*.json"))
    findings, expressions = check_dashboards(dashboards, allowed)
    findings += promtool_parse_findings(args.promtool, expressions)
    findings += check_rules(
        sorted((MONITORING / "rules").glob("*.yaml")),
        tested_alertnames(sorted((MONITORING / "tests").glob("*.yaml"))),
        runbook_anchors(ROOT / "docs" / "operations.md"),
        allowed,
    )
    for finding in findings:
        print(finding)
    print(
        f"{len(dashboards)} dashboards, {len(expressions)} expressions parsed, "
        f"{len(findings)} findings",
        file=sys.stderr,
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
