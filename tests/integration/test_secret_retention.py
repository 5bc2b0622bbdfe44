"""`spec.secret.deletionPolicy`: with Orphan the Secret outlives its credential with a working password, and a new
credential of the same name adopts it (a GitOps rename back, or a delete + create, drops nothing pods use); with
Delete (the default) it goes with the credential. On the emulator and on the real control plane, where
kube-controller-manager's garbage collector deletes what the credential still owns and the chart's admission
policies bound the operator's own Secret writes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from tests.conftest import ROOT, Cloud, Operator
from tests.helm import NAMESPACE, RELEASE
from tests.integration.operator_helpers import (
    apply,
    eventually,
    get,
    login,
    namespace,
    secret_data,
    wait_ready,
    wait_reason,
)
from tests.integration.test_operator_bounds import OURS, as_operator, secret

APP = "billing-mailer"
# Rotations seconds apart (the CRD keeps scheduled ones an hour apart: these are asked for), a short grace period.
QUICK = {"secretLifetime": "2h", "renewBefore": "1h", "gracePeriod": "3s"}
ORPHAN = {"deletionPolicy": "Orphan"}
# The sweep runs every second and takes a key for stray 3 s after it first looks so: it must spare what an
# orphaned (or adopted) Secret holds all through these scenarios.
_RUNNING = {"ACSSMTP_SWEEP_PERIOD": "1", "ACSSMTP_ORPHAN_SETTLE": "3", "ACSSMTP_GRAPH_LAG": "3"}


@pytest.fixture(scope="module")
def operator(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    running = Operator(cloud, tmp_path_factory.mktemp("retention"), **_RUNNING)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def allow_owner_changes(request: pytest.FixtureRequest, cloud: Cloud, ns: str) -> None:
    """On the real control plane (OwnerReferencesPermissionEnforcement on, as OpenShift's default): what
    docs/install.md asks of an administrator there, `delete` on the namespace's Secrets for the operator, which
    the plugin asks for to change an ownerReference (the chart does not grant it)."""
    if request.config.getoption("--cluster") != "real":
        return
    subject = {"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "orphan", "namespace": ns},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["delete"]}]}  # fmt: skip
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "orphan", "namespace": ns}, "subjects": [subject],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "orphan"}}  # fmt: skip
    cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([role, binding]))


def live_keys(cloud: Cloud) -> dict[str, str]:
    found = next(a for a in cloud.state()["applications"] if a["appId"] == cloud.app(APP)["clientId"])
    return {p["keyId"]: p["displayName"] for p in found["passwordCredentials"]}


def owners(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in obj["metadata"].get("ownerReferences") or [] if r["kind"] == "AcsSmtpCredential"]


def events(cloud: Cloud, ns: str) -> list[str]:
    return cloud.kubectl("get", "events", "-n", ns, "-o", "jsonpath={.items[*].reason}").stdout.split()


@pytest.mark.usefixtures("operator")
def test_an_orphaned_secret_keeps_working_and_a_new_credential_of_the_same_name_adopts_it(
    request: pytest.FixtureRequest, cloud: Cloud, ns: str
) -> None:
    allow_owner_changes(request, cloud, ns)
    apply(cloud, ns, "mailer", app=APP, rotation=QUICK, secret=ORPHAN)
    wait_ready(cloud, ns, "mailer")
    first = get(cloud, ns, "acssmtp", "mailer") or {}
    key = first["status"]["currentKeyId"]
    data = eventually(lambda: secret_data(cloud, ns, "mailer-smtp"), 10, "the Secret")
    assert login(cloud, data["username"], data["password"]) == 235

    cloud.kubectl("delete", "acssmtp", "mailer", "-n", ns, "--timeout=60s")
    assert get(cloud, ns, "acssmtp", "mailer") is None

    def let_go() -> dict[str, Any] | None:
        found = get(cloud, ns, "secret", "mailer-smtp")
        return found if found is not None and not owners(found) else None

    left = eventually(let_go, 30, "the Secret let go")
    notes = left["metadata"]["annotations"]
    assert notes["acssmtp.io/orphaned-from"] == "mailer"
    assert notes["acssmtp.io/orphaned-uid"] == first["metadata"]["uid"]
    time.sleep(6)  # the garbage collector has looked by now, and the sweep has (every second, settling 3 s)
    assert secret_data(cloud, ns, "mailer-smtp") == data, "the Secret stays as it was"
    assert key in live_keys(cloud)
    assert login(cloud, data["username"], data["password"]) == 235, "its password still works"

    # A credential of another name cannot take it, even when it names the Secret.
    apply(cloud, ns, "intruder", app=APP, secret={"name": "mailer-smtp"})
    wait_reason(cloud, ns, "intruder", "SecretConflict")
    assert secret_data(cloud, ns, "mailer-smtp") == data
    cloud.kubectl("delete", "acssmtp", "intruder", "-n", ns, "--timeout=60s")

    # The same name again (a GitOps rename back, or a delete + create): adopted, with the key it holds.
    apply(cloud, ns, "mailer", app=APP, rotation=QUICK, secret=ORPHAN)
    wait_ready(cloud, ns, "mailer")
    second = get(cloud, ns, "acssmtp", "mailer") or {}
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    adopted = get(cloud, ns, "secret", "mailer-smtp") or {}
    assert [(r["uid"], r.get("controller")) for r in owners(adopted)] == [(second["metadata"]["uid"], True)]
    assert not [k for k in adopted["metadata"].get("annotations") or {} if k.startswith("acssmtp.io/orphaned-")]
    assert secret_data(cloud, ns, "mailer-smtp") == data, "no new client secret: the working one is kept"
    assert second["status"]["currentKeyId"] == key
    assert "SecretAdopted" in events(cloud, ns)
    assert login(cloud, data["username"], data["password"]) == 235

    # Its next rotation retires the inherited key after the grace period, like one of its own.
    cloud.kubectl("annotate", "acssmtp", "mailer", "-n", ns, "acssmtp.io/rotate=after-adoption", "--overwrite")

    def new_password() -> dict[str, str] | None:
        found = secret_data(cloud, ns, "mailer-smtp")
        return found if found is not None and found["password"] != data["password"] else None

    rotated = eventually(new_password, 30, "the rotation")
    assert login(cloud, rotated["username"], rotated["password"]) == 235
    eventually(lambda: key not in live_keys(cloud), 30, "the inherited key retired after its grace period")
    assert login(cloud, data["username"], data["password"]) == 535
    assert login(cloud, rotated["username"], rotated["password"]) == 235

    # Done with it: Delete again, so that deleting it (with its operator running) takes the Secret and its key
    # along instead of leaving a live password behind (what Orphan is for, and what the leak audit would flag).
    cloud.kubectl("patch", "acssmtp", "mailer", "-n", ns, "--type=merge", "-p",
                  '{"spec":{"secret":{"deletionPolicy":"Delete"}}}')  # fmt: skip
    cloud.kubectl("delete", "acssmtp", "mailer", "-n", ns, "--timeout=60s")
    eventually(lambda: get(cloud, ns, "secret", "mailer-smtp") is None, 10, "the Secret to go with it")


@pytest.mark.usefixtures("operator")
def test_with_the_default_delete_policy_the_secret_goes_with_its_credential(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "plain", app=APP)
    wait_ready(cloud, ns, "plain")
    key = (get(cloud, ns, "acssmtp", "plain") or {})["status"]["currentKeyId"]
    assert (get(cloud, ns, "acssmtp", "plain") or {})["spec"]["secret"]["deletionPolicy"] == "Delete"
    cloud.kubectl("delete", "acssmtp", "plain", "-n", ns, "--timeout=60s")
    eventually(lambda: get(cloud, ns, "secret", "plain-smtp") is None, 60, "the Secret to go with its owner")
    assert key not in live_keys(cloud)


@pytest.mark.usefixtures("operator")
def test_a_bad_secret_deletion_policy_is_refused_by_the_schema(cloud: Cloud, ns: str) -> None:
    def refused(**spec: Any) -> str:
        body = {
            "apiVersion": "acssmtp.io/v1alpha1",
            "kind": "AcsSmtpCredential",
            "metadata": {"name": "bad", "namespace": ns},
            "spec": {
                "communicationService": {"resourceId": cloud.acs["resourceId"]},
                "entraApplication": {"clientId": cloud.app(APP)["clientId"]},
                **spec,
            },
        }
        done = cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(body), check=False)
        assert done.returncode != 0, "admitted"
        return done.stderr

    assert "deletionPolicy" in refused(secret={"deletionPolicy": "Retain"})
    smtp_username = {"format": "SmtpUsername", "smtpUsername": "mailer@example.org"}
    assert "not supported with username.format SmtpUsername" in refused(secret=ORPHAN, username=smtp_username)
    assert get(cloud, ns, "acssmtp", "bad") is None


# The admission policies of the chart (real control plane): the two writes that change a Secret's controller.


@pytest.fixture
def bounded(real: Cloud) -> Iterator[str]:
    name = namespace(real, policy=False)
    probe = secret(name, "probe")
    eventually(lambda: not as_operator(real, "create", "--dry-run=server", "-f", "-", stdin=probe)[0] or None)
    yield name
    real.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _credential(cloud: Cloud, ns: str, name: str) -> str:
    """A credential no operator serves here (no policy covers the namespace): only a real owner for Secrets."""
    apply(cloud, ns, name)
    return str(json.loads(cloud.kubectl("get", "acssmtp", name, "-n", ns, "-o", "json").stdout)["metadata"]["uid"])


def _read(cloud: Cloud, ns: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(cloud.kubectl("get", "secret", name, "-n", ns, "-o", "json").stdout)
    return found


def test_the_operator_may_orphan_its_secret_only_as_it_was_and_adopt_only_under_the_same_name(
    request: pytest.FixtureRequest, real: Cloud, bounded: str
) -> None:
    cloud, ns = real, bounded
    allow_owner_changes(request, cloud, ns)
    uid = _credential(cloud, ns, "x")
    cloud.kubectl("create", "-f", "-", stdin=secret(ns, "kept", OURS, owner=True, uid=uid))

    def orphaned(**data: str) -> dict[str, Any]:
        found = _read(cloud, ns, "kept")
        found["metadata"].pop("ownerReferences")
        found["metadata"]["annotations"] = {"acssmtp.io/orphaned-from": "x", "acssmtp.io/orphaned-uid": uid}
        found["data"] = {**found["data"], **data}
        return found

    allowed, said = as_operator(cloud, "replace", "-f", "-", stdin=json.dumps(orphaned(password="ZXZpbA==")))
    assert not allowed and "controlled by an AcsSmtpCredential" in said, "orphaning may not change the data"
    wrong = orphaned()
    wrong["metadata"]["annotations"]["acssmtp.io/orphaned-from"] = "other"
    allowed, said = as_operator(cloud, "replace", "-f", "-", stdin=json.dumps(wrong))
    assert not allowed, "it names the credential that controlled it"
    allowed, said = as_operator(cloud, "replace", "-f", "-", stdin=json.dumps(orphaned()))
    assert allowed, said

    def owned_by(name: str, owner: str) -> str:
        found = _read(cloud, ns, "kept")
        found["metadata"]["ownerReferences"] = [
            {"apiVersion": "acssmtp.io/v1alpha1", "kind": "AcsSmtpCredential", "name": name, "uid": owner,
             "controller": True}
        ]  # fmt: skip
        return json.dumps(found)

    allowed, said = as_operator(cloud, "replace", "-f", "-", stdin=owned_by("other", _credential(cloud, ns, "other")))
    assert not allowed and "may not take over" in said, "a credential of another name may not adopt it"
    allowed, said = as_operator(cloud, "replace", "-f", "-", stdin=owned_by("x", uid))
    assert allowed, said

    # A tenant's Secret marked as if orphaned, but not labelled as the operator's: not taken over.
    forged = yaml.safe_load(secret(ns, "forged"))
    forged["metadata"]["annotations"] = {"acssmtp.io/orphaned-from": "x"}
    cloud.kubectl("create", "-f", "-", stdin=yaml.safe_dump(forged))
    taken = _read(cloud, ns, "forged")
    taken["metadata"]["labels"] = OURS
    taken["metadata"]["ownerReferences"] = [
        {"apiVersion": "acssmtp.io/v1alpha1", "kind": "AcsSmtpCredential", "name": "x", "uid": uid, "controller": True}
    ]
    allowed, said = as_operator(cloud, "replace", "-f", "-", stdin=json.dumps(taken))
    assert not allowed and "may not take over" in said
