"""The pure permission decision: a credential and the policies → permitted by which, or refused because of what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.model import Reason, Spec
from acs_smtp_operator.policy import policy_view
from acs_smtp_operator.policy_status import policy_status
from acs_smtp_operator.schedule import Streak, wake
from acs_smtp_operator.status import Status
from acs_smtp_operator.tenancy import Tenancy, conflicts, permit, resource_allowed
from acs_smtp_operator.validate import validate

SUB = "11111111-2222-3333-4444-555555555555"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-shop"
SHOP_ACS = f"{RG}/providers/Microsoft.Communication/communicationServices/shop"
BILLING_ACS = (
    f"/subscriptions/{SUB}/resourceGroups/rg-billing/providers/Microsoft.Communication/communicationServices/bill"
)
SHOP_APP = "aaaaaaaa-0000-0000-0000-000000000001"
BILLING_APP = "bbbbbbbb-0000-0000-0000-000000000002"

READ, WRITE = "Microsoft.Communication/CommunicationServices/Read", "Microsoft.Communication/EmailServices/write"


def policy(name: str, created: str = "2026-01-01T00:00:00Z", **spec: Any) -> dict[str, Any]:
    body = {
        "namespaces": {"names": ["shop"]},
        "applications": [SHOP_APP],
        "communicationServices": [SHOP_ACS],
        **spec,
    }
    return {"metadata": {"name": name, "creationTimestamp": created}, "spec": body}


def credential(**over: Any) -> Spec:
    raw = {"communicationService": {"resourceId": SHOP_ACS}, "entraApplication": {"clientId": SHOP_APP}, **over}
    return Spec.parse(raw)


def tenancy(*policies: dict[str, Any], labels: dict[str, dict[str, str]] | None = None) -> Tenancy:
    return Tenancy(tuple(policy_view(p) for p in policies), labels if labels is not None else {"shop": {}})


PERMITTED = [
    ("a policy naming the namespace permits the credential", credential(), [policy("shop")], "shop"),
    (
        "a label selector covers the namespace by its labels",
        credential(),
        [policy("teams", namespaces={"selector": {"matchLabels": {"team": "shop"}}})],
        "teams",
    ),
    (
        "a resource group pattern covers every resource in it",
        credential(),
        [policy("rg", communicationServices=[f"{RG}/*"])],
        "rg",
    ),
    (
        "a subscription pattern covers every resource in it",
        credential(),
        [policy("sub", communicationServices=[f"/subscriptions/{SUB}/*"])],
        "sub",
    ),
    (
        "of two permitting policies the first by name is chosen",
        credential(),
        [policy("zeta"), policy("alpha")],
        "alpha",
    ),
    (
        "a refusing policy does not hide a permitting one",
        credential(),
        [policy("a-strict", limits={"maxSecretLifetime": "24h"}), policy("b-loose")],
        "b-loose",
    ),
    (
        "retain is permitted where the policy allows it",
        credential(deletionPolicy="Retain"),
        [policy("shop", limits={"allowRetain": True})],
        "shop",
    ),
    (
        "an smtpUsername on an allowed domain is permitted",
        credential(username={"format": "SmtpUsername", "smtpUsername": "orders@shop.example.com"}),
        [policy("shop", limits={"smtpUsernameDomains": ["Shop.Example.com"]})],
        "shop",
    ),
    (
        "resource ids and client ids are compared without case",
        credential(entraApplication={"clientId": SHOP_APP.upper()}),
        [policy("shop", communicationServices=[SHOP_ACS.upper()])],
        "shop",
    ),
]


@pytest.mark.parametrize(("case", "spec", "policies", "by"), PERMITTED, ids=[c[0] for c in PERMITTED])
def test_permitted(case: str, spec: Spec, policies: list[dict[str, Any]], by: str) -> None:
    labels = {"shop": {"team": "shop"}}
    assert permit(spec, "shop", tenancy(*policies, labels=labels)).policy == by


REFUSED = [
    ("no policy at all refuses everything", credential(), [], "no AcsSmtpPolicy covers namespace shop"),
    (
        "a policy for another namespace does not cover this one",
        credential(),
        [policy("billing", namespaces={"names": ["billing"]})],
        "no AcsSmtpPolicy covers namespace shop",
    ),
    (
        "a selector the namespace's labels do not match does not cover it",
        credential(),
        [policy("teams", namespaces={"selector": {"matchLabels": {"team": "billing"}}})],
        "no AcsSmtpPolicy covers namespace shop",
    ),
    (
        "another team's application is refused",
        credential(entraApplication={"clientId": BILLING_APP}),
        [policy("shop")],
        f"policy 'shop': application {BILLING_APP} is not in its applications",
    ),
    (
        "a resource outside the policy is refused",
        credential(communicationService={"resourceId": BILLING_ACS}),
        [policy("shop")],
        f"communication service {BILLING_ACS} is not in its communicationServices",
    ),
    (
        "a resource group pattern does not cover a group whose name only starts the same",
        credential(communicationService={"resourceId": SHOP_ACS.replace("rg-shop", "rg-shop2")}),
        [policy("shop", communicationServices=[f"{RG}/*"])],
        "is not in its communicationServices",
    ),
    (
        "a lifetime above the bound is refused",
        credential(rotation={"secretLifetime": "87600h", "renewBefore": "720h"}),
        [policy("shop")],
        "spec.rotation.secretLifetime 87600h is above maxSecretLifetime 2160h",
    ),
    (
        "rotations more frequent than the bound are refused",
        credential(rotation={"secretLifetime": "60s", "renewBefore": "50s"}),
        [policy("shop")],
        "more frequent than minRotationInterval 1h",
    ),
    (
        "a grace period above the bound is refused",
        credential(rotation={"gracePeriod": "720h"}),
        [policy("shop")],
        "spec.rotation.gracePeriod 720h is above maxGracePeriod 168h",
    ),
    (
        "retain is refused unless the policy allows it",
        credential(deletionPolicy="Retain"),
        [policy("shop")],
        "spec.deletionPolicy Retain is not allowed",
    ),
    (
        "an orphaned Secret (its key outlives the credential) is refused unless the policy allows retaining",
        credential(secret={"deletionPolicy": "Orphan"}),
        [policy("shop")],
        "spec.secret.deletionPolicy Orphan is not allowed (allowRetain is false)",
    ),
    (
        "a username format the policy does not list is refused",
        credential(username={"format": "Pipe"}),
        [policy("shop", limits={"usernameFormats": ["Dot"]})],
        "spec.username.format Pipe is not among usernameFormats ['Dot']",
    ),
    (
        "an smtpUsername outside the allowed domains is refused",
        credential(username={"format": "SmtpUsername", "smtpUsername": "ceo@billing.example.com"}),
        [policy("shop", limits={"smtpUsernameDomains": ["shop.example.com"]})],
        "is not an address on smtpUsernameDomains",
    ),
    (
        "an invalid policy permits nothing and says why",
        credential(),
        [policy("shop", limits={"maxSecretLifetime": "90d"})],
        "policy 'shop': the policy is invalid (spec.limits.maxSecretLifetime",
    ),
    (
        "a policy refused for a role conflict permits nothing",
        credential(),
        [
            policy("first", namespaces={"names": ["other"]}, role={"actions": [READ]}),
            policy("second", created="2026-02-01T00:00:00Z"),
        ],
        "policy 'second': the policy is refused: custom role 'ACS SMTP Sender' is already defined by policy 'first'",
    ),
]


@pytest.mark.parametrize(("case", "spec", "policies", "why"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(case: str, spec: Spec, policies: list[dict[str, Any]], why: str) -> None:
    with pytest.raises(Failure) as caught:
        permit(spec, "shop", tenancy(*policies))
    assert caught.value.reason == Reason.NOT_PERMITTED
    assert isinstance(caught.value.retry, UntilSpecChanges)  # asked again when a policy or the spec changes
    assert why in caught.value.message


def test_a_refusal_names_every_policy_considered() -> None:
    with pytest.raises(Failure) as caught:
        permit(
            credential(entraApplication={"clientId": BILLING_APP}),
            "shop",
            tenancy(policy("one"), policy("two", limits={"maxSecretLifetime": "1h"})),
        )
    assert "policy 'one'" in caught.value.message and "policy 'two'" in caught.value.message


def test_the_permitting_policy_chooses_the_role() -> None:
    chosen = {"customRoleName": "Shop sender", "actions": ["Microsoft.Communication/CommunicationServices/Read"]}
    grant = permit(credential(), "shop", tenancy(policy("shop", role=chosen)))
    assert grant.role.custom_role_name == "Shop sender"
    assert grant.role.actions == ("Microsoft.Communication/CommunicationServices/Read",)


def test_the_older_of_two_policies_keeps_a_role_name_and_the_newer_is_refused() -> None:
    older = policy_view(policy("older", created="2026-01-01T00:00:00Z", role={"actions": [READ]}))
    newer = policy_view(policy("newer", created="2026-03-01T00:00:00Z", role={"actions": [WRITE]}))
    same = policy_view(
        policy(
            "same",
            created="2026-04-01T00:00:00Z",
            role={"actions": ["microsoft.communication/COMMUNICATIONSERVICES/read"]},
        )
    )
    other = policy_view(policy("other", created="2026-05-01T00:00:00Z", role={"customRoleName": "x"}))
    refused = conflicts([newer, same, older, other])
    assert set(refused) == {"newer"}
    assert "already defined by policy 'older'" in refused["newer"]


def test_a_policy_action_that_is_not_an_azure_action_makes_the_policy_invalid() -> None:
    view = policy_view(policy("bad", role={"actions": ["not an action"]}))
    assert view.spec is None and view.problem is not None and "not Azure actions" in view.problem
    status = policy_status(view, {}, {"shop": {}}, 0)
    assert status["conditions"][0]["reason"] == "InvalidPolicy"
    assert status["namespaces"] == "shop"  # the namespaces it would cover are still shown


@pytest.mark.parametrize("action", ["Microsoft.Authorization/roleAssignments/write", "microsoft.authorization/*"])
def test_a_policy_whose_role_could_grant_access_permits_nothing(action: str) -> None:
    """The SMTP principals would get the role: with Microsoft.Authorization they could make themselves Owner."""
    actions = ["Microsoft.Communication/CommunicationServices/Read", action]
    view = policy_view(policy("grant", role={"actions": actions}))
    assert view.spec is None and view.problem is not None and "may not manage access" in view.problem


@pytest.mark.parametrize(
    "action",
    [
        "Microsoft.KeyVault/vaults/accessPolicies/write",
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
        "Microsoft.Storage/storageAccounts/listKeys/action",
    ],
)
def test_a_policy_whose_role_reaches_beyond_communication_services_permits_nothing(action: str) -> None:
    """Another provider's action could hand the SMTP principals a vault, an identity or a storage key."""
    actions = ["Microsoft.Communication/CommunicationServices/Read", action]
    view = policy_view(policy("beyond", role={"actions": actions}))
    assert view.spec is None and view.problem is not None and "Microsoft.Communication's only" in view.problem


def test_a_policy_status_names_the_namespaces_it_covers_and_counts_credentials() -> None:
    view = policy_view(policy("teams", namespaces={"names": ["a"], "selector": {"matchLabels": {"team": "x"}}}))
    status = policy_status(view, {}, {"a": {}, "b": {"team": "x"}, "c": {"team": "y"}}, 3)
    assert status == {
        "conditions": [{"type": "Ready", "status": "True", "reason": "Accepted", "message": "the policy is in force"}],
        "namespaces": "a,b",
        "namespaceCount": 2,
        "credentials": 3,
        "warnings": [],
    }


@pytest.mark.parametrize(
    ("namespaces", "warned"),
    [
        ({"names": ["shop", "shop-staging"]}, "names namespaces that do not exist (shop-staging)"),
        ({"selector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["prod"]}]}},
         "the selector requires no label"),
        ({"selector": {"matchExpressions": [{"key": "frozen", "operator": "DoesNotExist"}]}},
         "the selector requires no label"),
        ({"selector": {}}, "the selector requires no label"),
        ({"selector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                             "values": ["shop", "shop-qa"]}]}},
         "names namespaces that do not exist (shop-qa)"),
    ],
    ids=["a name nobody created", "NotIn only", "DoesNotExist only", "an empty selector", "a name in a selector"],
)  # fmt: skip
def test_a_policy_warns_of_what_whoever_creates_a_namespace_could_claim(
    namespaces: dict[str, Any], warned: str
) -> None:
    view = policy_view(policy("claim", namespaces=namespaces))
    [warning] = policy_status(view, {}, {"shop": {}}, 0)["warnings"]
    assert warned in warning and "docs/tenancy.md" in warning


def test_a_policy_that_names_existing_namespaces_or_requires_a_label_warns_of_nothing() -> None:
    for namespaces in (
        {"names": ["shop"]},
        {"selector": {"matchLabels": {"team": "shop"}}},
        {"selector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["shop"]}]}},
        {"selector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}},
    ):
        assert policy_status(policy_view(policy("p", namespaces=namespaces)), {}, {"shop": {}}, 0)["warnings"] == []


def test_a_selector_with_expressions_matches_as_kubernetes_does() -> None:
    expressions = [
        {"key": "team", "operator": "In", "values": ["shop", "web"]},
        {"key": "frozen", "operator": "DoesNotExist"},
        {"key": "tier", "operator": "NotIn", "values": ["prod"]},
    ]
    view = policy_view(policy("x", namespaces={"selector": {"matchExpressions": expressions}}))
    labels = {
        "a": {"team": "shop"},
        "b": {"team": "web", "tier": "dev"},
        "c": {"team": "shop", "frozen": "yes"},
        "d": {"team": "ops"},
        "e": {"team": "shop", "tier": "prod"},
    }
    assert policy_status(view, {}, labels, 0)["namespaces"] == "a,b"


def test_explicit_patterns_only() -> None:
    assert resource_allowed([f"{RG}/*"], SHOP_ACS)
    assert not resource_allowed([RG], SHOP_ACS)  # a bare prefix is not a pattern
    assert not resource_allowed([f"{RG}/*"], BILLING_ACS)


def test_a_rotation_request_held_back_by_the_interval_wakes_the_scheduler_once_it_may_be_served() -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    drift, later = timedelta(hours=1), now + timedelta(minutes=10)
    assert wake(Status(), now, now, drift, drift, deferred=later).due == later
    assert wake(Status(), later, later, drift, drift, deferred=later).due == later + drift  # spent: no loop


def test_a_permission_change_wakes_the_scheduler_even_while_passes_fail() -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    failing = Streak(failures=3, retried_by_kopf=True, at=now)
    drift = timedelta(hours=1)
    assert wake(Status(), now - timedelta(seconds=5), now, drift, drift, failing).due > now + timedelta(seconds=30)
    assert wake(Status(), now - timedelta(seconds=5), now, drift, drift, failing, recheck=True).due == now


def test_another_spelling_of_a_role_name_is_a_conflict_as_its_one_definition_would_be_renamed() -> None:
    older = policy_view(policy("older", created="2026-01-01T00:00:00Z"))
    newer = policy_view(policy("newer", created="2026-02-01T00:00:00Z", role={"customRoleName": "acs smtp sender"}))
    assert set(conflicts([older, newer])) == {"newer"}


def test_the_same_actions_listed_twice_are_the_same_actions() -> None:
    actions = [READ, READ, WRITE]
    older = policy_view(policy("older", role={"actions": [READ, WRITE]}))
    newer = policy_view(policy("newer", created="2026-02-01T00:00:00Z", role={"actions": actions}))
    assert conflicts([older, newer]) == {}


def test_a_selector_requirement_must_be_well_formed_or_the_policy_permits_nothing() -> None:
    loose = {"selector": {"matchExpressions": [{"key": "team", "operator": "NotIn"}]}}  # would match everything
    view = policy_view(policy("loose", namespaces=loose))
    assert view.spec is None and view.problem is not None and "need values" in view.problem
    assert view.selection is None


def test_an_absurd_duration_is_refused_not_a_crash() -> None:
    view = policy_view(policy("huge", limits={"maxGracePeriod": "99999999999999h"}))
    assert view.spec is None and view.problem is not None and "longer than" in view.problem
    raw = {
        "communicationService": {"resourceId": SHOP_ACS},
        "entraApplication": {"clientId": SHOP_APP},
        "rotation": {"gracePeriod": "99999999999999h"},
    }
    with pytest.raises(Failure) as caught:  # the pass validates the spec before it asks the policies
        validate(raw, "tenant", "smtp.example.com", 587)
    assert caught.value.reason == Reason.INVALID_SPEC and "longer than" in caught.value.message


def test_the_grant_carries_the_policys_rotation_interval() -> None:
    grant = permit(credential(), "shop", tenancy(policy("shop", limits={"minRotationInterval": "24h"})))
    assert grant.min_rotation_interval == timedelta(hours=24)
