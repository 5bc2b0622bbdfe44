"""Restart targets by name or by label selector: what the CRD admits, what the operator refuses, what it lists."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from acs_smtp_operator.describe import Summary, Workload, lines
from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.kube.workloads import too_many
from acs_smtp_operator.model import RestartTarget, Spec
from acs_smtp_operator.sandbox.kube.schema import apply_defaults, check, prune
from acs_smtp_operator.validate import validate

ROOT = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((ROOT / "crds" / "acssmtp.io_acssmtpcredentials.yaml").read_text())
SCHEMA: dict[str, Any] = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
RID = (
    "/subscriptions/e04a0672-1ccb-5e4d-9188-d77b07fab321/resourceGroups/rg/providers/"
    "Microsoft.Communication/communicationServices/acs"
)
APP = "76d25cdf-e868-5455-9d98-19efb79681a0"
TENANT = "00000000-0000-0000-0000-000000000001"


def spec(*targets: dict[str, Any]) -> dict[str, Any]:
    return {
        "communicationService": {"resourceId": RID},
        "entraApplication": {"clientId": APP},
        "restartTargets": list(targets),
    }


def admitted_causes(*targets: dict[str, Any]) -> list[str]:
    obj = {"apiVersion": "acssmtp.io/v1alpha1", "kind": "AcsSmtpCredential", "metadata": {"name": "x"}}
    body = dict(apply_defaults(SCHEMA, prune(SCHEMA, {**obj, "spec": spec(*targets)})))
    return [f"{c.field}: {c.detail}" for c in check(SCHEMA, body, None)]


def refusal(*targets: dict[str, Any]) -> str:
    with pytest.raises(Failure) as caught:
        validate(spec(*targets), TENANT, "smtp.azurecomm.net", 587)
    assert caught.value.reason == "InvalidSpec" and isinstance(caught.value.retry, UntilSpecChanges)
    return caught.value.message


MAILER: dict[str, Any] = {"kind": "Deployment", "selector": {"matchLabels": {"app": "mailer"}}}

BAD = [
    ("both a name and a selector", {"kind": "Deployment", "name": "web", **{"selector": MAILER["selector"]}},
     "exactly one of name and selector"),
    ("neither a name nor a selector", {"kind": "Deployment"}, "exactly one of name and selector"),
    ("an empty selector, which would match the whole namespace", {"kind": "Deployment", "selector": {}},
     "empty selector would match every workload"),
    ("a selector with empty lists", {"kind": "Deployment", "selector": {"matchLabels": {}, "matchExpressions": []}},
     "empty selector would match every workload"),
    ("In without values", {"kind": "Deployment", "selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
     "In and NotIn need values"),
    ("Exists with values",
     {"kind": "Deployment", "selector": {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["a"]}]}},
     "Exists and DoesNotExist take none"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "target", "text"), BAD, ids=[b[0] for b in BAD])
def test_the_crd_refuses_a_target_that_is_not_exactly_one_non_empty_selector_or_name(
    name: str, target: dict[str, Any], text: str
) -> None:
    causes = admitted_causes(target)
    assert any(text in c for c in causes), causes


@pytest.mark.parametrize(("name", "target", "text"), BAD, ids=[b[0] for b in BAD])
def test_the_operator_refuses_it_too_as_invalid_spec_naming_the_field(
    name: str, target: dict[str, Any], text: str
) -> None:
    """An object admitted before the rule existed (or by a server without CEL) gets InvalidSpec, no Azure call."""
    message = refusal(target)
    assert message.startswith("spec.restartTargets.0") and text in message, message


@pytest.mark.parametrize(
    "selector",
    [
        {"matchLabels": {"app": "mailer,tier=db"}},  # a second term smuggled into the query
        {"matchLabels": {"app": "mailer)"}},
        {"matchLabels": {"app in (a)": "x"}},
        {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a,b"]}]},
        {"matchExpressions": [{"key": "!app", "operator": "Exists"}]},
        {"matchLabels": {"app": "mailer\n"}},
    ],
)
def test_keys_and_values_that_are_not_labels_are_refused_so_no_term_can_be_injected(selector: dict[str, Any]) -> None:
    assert "is not a label" in refusal({"kind": "Deployment", "selector": selector})


def test_a_selector_becomes_the_query_kubernetes_takes() -> None:
    target = RestartTarget.model_validate(
        {
            "kind": "StatefulSet",
            "selector": {
                "matchLabels": {"app": "mailer", "example.com/team": "shop"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["web", "worker"]},
                    {"key": "canary", "operator": "NotIn", "values": ["true"]},
                    {"key": "mail", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ],
            },
        }
    )
    assert target.selector is not None
    assert target.selector.query() == (
        "app=mailer,example.com/team=shop,tier in (web,worker),canary notin (true),mail,!legacy"
    )
    assert target.describe() == f"StatefulSets matching {target.selector.query()}"


def test_names_and_selectors_together_are_admitted_and_parsed() -> None:
    targets = [{"kind": "Deployment", "name": "web"}, MAILER]
    assert admitted_causes(*targets) == []
    parsed = Spec.parse(spec(*targets)).restart_targets
    assert [t.describe() for t in parsed] == ["Deployment web", "Deployments matching app=mailer"]


def test_over_the_bound_the_message_names_the_selectors_the_bound_and_what_happens_meanwhile() -> None:
    targets = Spec.parse(spec({"kind": "Deployment", "name": "web"}, MAILER)).restart_targets
    message = too_many(targets, 51, 50, more=True)
    assert "more than 51 workloads (Deployments matching app=mailer)" in message
    assert "at most 50" in message and "ACSSMTP_MAX_RESTART_TARGETS" in message
    assert "None was restarted" in message and "old client secret is kept" in message


def test_status_shows_each_selected_workload_and_a_selector_that_matches_nothing() -> None:
    summary = Summary.model_construct(
        namespace="shop",
        name="mailer",
        ready=None,
        conditions=(),
        policy=None,
        policy_state="",
        username=None,
        secret="mailer-smtp",
        secret_state="present",
        secret_key_id=None,
        current_key=None,
        next_rotation=None,
        last_rotation=None,
        last_rotation_reason=None,
        grace_period=(),
        pending_rollout=None,
        restart_targets=(
            Workload(kind="Deployment", name="web", state="rolled-out"),
            Workload(kind="Deployment", name="a", state="rolling-out", detail="1/2 updated", selector="app=mailer"),
            Workload(kind="DaemonSet", name="", state="absent", detail="none matches", selector="app=relay"),
        ),
        events=(),
        events_unreadable="",
    )
    shown = [line.split(":", 1)[1].strip() for line in lines(summary, datetime.now(UTC)) if "Restart target" in line]
    assert shown == [
        "Deployment web rolled-out",
        "Deployment a (selected by app=mailer) rolling-out: 1/2 updated",
        "DaemonSets matching app=relay absent: none matches",
    ]
