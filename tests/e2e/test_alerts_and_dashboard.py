"""The chart's PrometheusRule and Grafana dashboard, checked with the real promtool and the operator's registry.

promtool (Prometheus' own rule checker and rule unit-test runner) is built from its Go module by `make tools`,
which `make test` and `make quick` run first; elsewhere these tests skip and say how to get it, unless
ACSSMTP_REQUIRE_TOOLS=1 (CI) makes its absence a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from tests.conftest import ROOT
from tests.helm import CHART, minimal, of_kind, render, render_files, render_with_apis

from acs_smtp_operator.metrics import Metrics

PROMTOOL = ROOT / "tests" / ".bin" / "promtool"
RULE_API = "monitoring.coreos.com/v1/PrometheusRule"
ALERT_TESTS = ROOT / "tests" / "alerts" / "alerts_test.yaml"
DASHBOARD = CHART / "dashboards" / "acs-smtp-operator.json"
RUNBOOK = ROOT / "docs" / "alerts.md"


def promtool() -> Path:
    if PROMTOOL.exists():
        return PROMTOOL
    why = f"promtool is not built ({PROMTOOL}): run `make tools` (Go and the Go module proxy)"
    if os.environ.get("ACSSMTP_REQUIRE_TOOLS") == "1":
        pytest.fail(why)
    pytest.skip(why)


def rule(values: dict[str, Any] | None = None) -> dict[str, Any]:
    files = render_with_apis(minimal(prometheusRule={"enabled": True, **(values or {})}), [RULE_API])
    found: dict[str, Any] = yaml.safe_load(files["acs-smtp-operator/templates/prometheusrule.yaml"])
    return found


def alerts(rule_: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for group in rule_["spec"]["groups"] for r in group["rules"]]


def exported() -> set[str]:
    """Every series name the operator's registry can export (a counter `x` as `x_total`, a histogram's `x_bucket`,
    `x_sum` and `x_count`, an info `x` as `x_info`)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def metric_names(expression: str) -> set[str]:
    return set(re.findall(r"\bacssmtp_[a-z_]+\b", expression))


def test_the_alerts_fire_on_their_scenarios_and_not_on_healthy_series(tmp_path: Path) -> None:
    """promtool's rule unit tests (tests/alerts/alerts_test.yaml) against the rules exactly as the chart renders
    them: each alert fires on its scenario, with a description naming the credential, and on no healthy one."""
    tool = promtool()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule()["spec"]))
    shutil.copy(ALERT_TESTS, tmp_path / "alerts_test.yaml")
    checked = subprocess.run([tool, "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([tool, "test", "rules", "alerts_test.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_firing_scenario_a_quiet_one_and_a_runbook() -> None:
    cases = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    fired = {c["alertname"] for t in cases for c in t["alert_rule_test"] if c.get("exp_alerts")}
    quiet = {c["alertname"] for t in cases for c in t["alert_rule_test"] if not c.get("exp_alerts")}
    runbook = RUNBOOK.read_text()
    for alert in alerts(rule()):
        name = alert["alert"]
        assert name in fired and name in quiet, f"{name} needs a scenario where it fires and one where it does not"
        assert alert["annotations"]["summary"] and alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["runbook_url"].endswith(f"alerts.md#{name.lower()}")
        assert f"### {name}" in runbook, f"docs/alerts.md has no runbook section for {name}"
        if name.startswith("AcsSmtpCredential"):
            assert "{{ $labels.namespace }}/{{ $labels.name }}" in alert["annotations"]["description"], name


def test_the_alerts_read_only_metrics_the_operator_exports() -> None:
    used = set().union(*(metric_names(a["expr"]) for a in alerts(rule())))
    assert used and used <= exported(), used - exported()


def test_the_rules_follow_the_values() -> None:
    tuned = alerts(
        rule(
            {
                "expiringWithinDays": 3,
                "notReadyFor": "30m",
                "operatorSelector": 'job="mailer-operator"',
                "alertLabels": {"team": "platform"},
            }
        )
    )
    by_name = {a["alert"]: a for a in tuned}
    assert "< 3 * 86400" in by_name["AcsSmtpCredentialExpiringSoon"]["expr"]
    assert by_name["AcsSmtpCredentialNotReady"]["for"] == "30m"
    assert by_name["AcsSmtpOperatorAbsent"]["expr"] == 'absent(acssmtp_leader{job="mailer-operator"})'
    assert all(a["labels"]["team"] == "platform" for a in tuned)


def test_the_rule_needs_the_prometheus_operator_and_says_so() -> None:
    assert not of_kind(render(minimal()), "PrometheusRule"), "off by default"
    with pytest.raises(helm_python.HelmRenderError, match=r"PrometheusRule CRD .* --api-versions"):
        render_files(minimal(prometheusRule={"enabled": True}))


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"operatorSelector": 'a="b"} or vector(1) #'}, "operatorSelector"),
        ({"operatorSelector": 'namespace="x"\n          for: 0s'}, "operatorSelector"),
        ({"alertLabels": {"severity": "info"}}, "invalid propertyName 'severity'"),
        ({"runbookUrl": "javascript:alert(1)"}, "runbookUrl"),
    ],
)
def test_values_that_would_break_or_bend_the_rule_are_refused(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(helm_python.HelmError, match=complaint):
        render_with_apis(minimal(prometheusRule={"enabled": True, **values}), [RULE_API])


def test_without_a_runbook_url_the_alerts_carry_none() -> None:
    assert all("runbook_url" not in a["annotations"] for a in alerts(rule({"runbookUrl": ""})))


def dashboard_expressions(board: dict[str, Any]) -> list[str]:
    found = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    found += [
        v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        for v in board["templating"]["list"]
        if v["type"] == "query"
    ]
    return found


def test_the_dashboard_ships_in_a_sidecar_configmap_only_when_asked() -> None:
    assert not [m for m in render(minimal()) if m["kind"] == "ConfigMap"], "off by default"
    files = render_files(minimal(grafanaDashboard={"enabled": True, "namespace": "monitoring"}))
    config_map = yaml.safe_load(files["acs-smtp-operator/templates/grafana-dashboard.yaml"])
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert json.loads(config_map["data"]["acs-smtp-operator.json"]) == json.loads(DASHBOARD.read_text())


def test_the_dashboard_queries_only_exported_metrics_and_parse(tmp_path: Path) -> None:
    """Every query names only series the operator exports; promtool parses each one (as a recording rule, with
    Grafana's variables given values)."""
    board = json.loads(DASHBOARD.read_text())
    expressions = dashboard_expressions(board)
    titles = {p["title"] for p in board["panels"]}
    wanted = {"Credentials", "Time to expiry", "Rotations by reason and result", "Azure calls by API and outcome"}
    assert wanted <= titles
    used = set().union(*(metric_names(e) for e in expressions))
    assert used <= exported(), used - exported()
    assert {"acssmtp_credential_ready_status", "acssmtp_leader", "acssmtp_rotations_total"} <= used
    assert {"acssmtp_reconcile_duration_seconds_bucket", "acssmtp_restarts_total"} <= used
    tool = promtool()
    queries = [e for e in expressions if not e.startswith("label_values(")]
    concrete = [
        e.replace("$__rate_interval", "5m").replace("$namespace", ".*").replace("$credential", ".*") for e in queries
    ]
    rules = {
        "groups": [{"name": "dashboard", "rules": [{"record": f"q:{i}", "expr": e} for i, e in enumerate(concrete)]}]
    }
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump(rules))
    checked = subprocess.run([tool, "check", "rules", "dashboard.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
