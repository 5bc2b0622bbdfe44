"""The Kubernetes emulator driven by the real kubectl."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from tests.conftest import ROOT, Cloud
from tests.integration.operator_helpers import eventually

EXAMPLE = (ROOT / "examples" / "shop-mailer.yaml").read_text()


@pytest.fixture(scope="module")
def crd(cloud: Cloud) -> None:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))


def cr_yaml(cloud: Cloud, name: str, namespace: str = "default", extra: str = "") -> str:
    return f"""
apiVersion: acssmtp.io/v1alpha1
kind: AcsSmtpCredential
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  communicationService: {{resourceId: {cloud.acs["resourceId"]}}}
  entraApplication: {{clientId: {cloud.app("shop-mailer")["clientId"]}}}
{extra}"""


def test_the_crd_is_established_and_discoverable_by_short_names(cloud: Cloud, crd: None) -> None:
    established = cloud.kubectl(
        "get",
        "crd",
        "acssmtpcredentials.acssmtp.io",
        "-o",
        "jsonpath={.status.conditions[?(@.type=='Established')].status}",
    )
    assert established.stdout == "True"
    resources = cloud.kubectl("api-resources", "--api-group=acssmtp.io").stdout
    assert "acssmtp,smtpcred" in resources and "AcsSmtpCredential" in resources


def test_reapplying_crds_and_examples_changes_nothing(cloud: Cloud, crd: None) -> None:
    cloud.kubectl("apply", "-f", "-", stdin=EXAMPLE)
    shape = "jsonpath={.metadata.generation} {.spec}"
    before = cloud.kubectl("get", "acssmtp", "shop-mailer", "-o", shape).stdout
    assert "unchanged" in cloud.kubectl("apply", "-f", str(ROOT / "crds")).stdout
    assert "unchanged" in cloud.kubectl("apply", "-f", "-", stdin=EXAMPLE).stdout
    after = cloud.kubectl("get", "acssmtp", "shop-mailer", "-o", shape).stdout
    assert before == after


def test_applied_objects_get_schema_defaults_and_server_metadata(cloud: Cloud, crd: None) -> None:
    cloud.kubectl("apply", "-f", "-", stdin=cr_yaml(cloud, "defaults"))
    obj = json.loads(cloud.kubectl("get", "smtpcred", "defaults", "-o", "json").stdout)
    assert obj["spec"]["rotation"]["secretLifetime"] == "2160h"
    assert obj["spec"]["username"]["format"] == "Dot"
    assert obj["metadata"]["generation"] == 1
    uuid.UUID(obj["metadata"]["uid"])
    assert int(obj["metadata"]["resourceVersion"]) > 0


def test_printer_columns_are_served_as_a_table(cloud: Cloud, crd: None) -> None:
    cloud.kubectl("apply", "-f", "-", stdin=cr_yaml(cloud, "columns"))
    header = cloud.kubectl("get", "acssmtp", "columns").stdout.splitlines()[0].split()
    assert header == ["NAME", "READY", "POLICY", "USERNAME", "SECRET", "EXPIRES", "NEXT", "ROTATION", "AGE"]


def test_annotate_label_and_patches_change_the_object_and_generation_tracks_spec(cloud: Cloud, crd: None) -> None:
    cloud.kubectl("apply", "-f", "-", stdin=cr_yaml(cloud, "edits"))
    cloud.kubectl("annotate", "acssmtp", "edits", "acssmtp.io/rotate=now")
    cloud.kubectl("label", "acssmtp", "edits", "team=shop")
    assert (
        cloud.kubectl("get", "acssmtp", "-l", "team=shop", "-o", "name").stdout.strip()
        == "acssmtpcredential.acssmtp.io/edits"
    )
    assert cloud.kubectl("get", "acssmtp", "-l", "team!=shop", "-o", "name").stdout.count("edits") == 0
    generation = cloud.kubectl("get", "acssmtp", "edits", "-o", "jsonpath={.metadata.generation}").stdout
    assert generation == "1", "metadata changes do not bump the generation"
    cloud.kubectl("patch", "acssmtp", "edits", "--type", "merge", "-p", '{"spec":{"deletionPolicy":"Retain"}}')
    cloud.kubectl(
        "patch",
        "acssmtp",
        "edits",
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/spec/rotation/verify","value":"Smtp"}]',
    )
    obj = json.loads(cloud.kubectl("get", "acssmtp", "edits", "-o", "json").stdout)
    assert obj["spec"]["deletionPolicy"] == "Retain" and obj["spec"]["rotation"]["verify"] == "Smtp"
    assert obj["metadata"]["generation"] == 3
    assert obj["metadata"]["annotations"]["acssmtp.io/rotate"] == "now"


def test_an_invalid_object_is_refused_with_the_cel_message(cloud: Cloud, crd: None) -> None:
    bad = cr_yaml(
        cloud, "bad", extra="  rotation: {secretLifetime: 1h, renewBefore: 2h}\n  username: {format: SmtpUsername}\n"
    )
    result = cloud.kubectl("apply", "-f", "-", stdin=bad, check=False)
    assert result.returncode != 0
    assert "spec.rotation.renewBefore" in result.stderr and "renewBefore must be shorter" in result.stderr
    assert "smtpUsername is required exactly when format is SmtpUsername" in result.stderr
    assert cloud.kubectl("get", "acssmtp", "bad", check=False).returncode != 0


def test_unknown_fields_are_refused_by_strict_server_side_validation(cloud: Cloud, crd: None) -> None:
    result = cloud.kubectl("apply", "-f", "-", stdin=cr_yaml(cloud, "typo", extra="  rotaton: {}\n"), check=False)
    assert result.returncode != 0 and 'unknown field "spec.rotaton"' in result.stderr


def test_a_finalizer_holds_deletion_until_it_is_removed(cloud: Cloud, crd: None) -> None:
    cloud.kubectl("apply", "-f", "-", stdin=cr_yaml(cloud, "held"))
    cloud.kubectl("patch", "acssmtp", "held", "--type", "merge", "-p", '{"metadata":{"finalizers":["test/hold"]}}')
    cloud.kubectl("delete", "acssmtp", "held", "--wait=false")
    stamp = cloud.kubectl("get", "acssmtp", "held", "-o", "jsonpath={.metadata.deletionTimestamp}").stdout
    assert stamp, "the object stays, marked for deletion"
    cloud.kubectl("patch", "acssmtp", "held", "--type", "json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert cloud.kubectl("get", "acssmtp", "held", check=False).returncode != 0


def test_an_owned_secret_is_garbage_collected_after_its_owner(cloud: Cloud, crd: None) -> None:
    cloud.kubectl("apply", "-f", "-", stdin=cr_yaml(cloud, "owner"))
    uid = cloud.kubectl("get", "acssmtp", "owner", "-o", "jsonpath={.metadata.uid}").stdout
    secret = f"""
apiVersion: v1
kind: Secret
metadata:
  name: owned-secret
  namespace: default
  ownerReferences: [{{apiVersion: acssmtp.io/v1alpha1, kind: AcsSmtpCredential, name: owner, uid: "{uid}"}}]
stringData: {{password: hunter2}}
"""
    cloud.kubectl("apply", "-f", "-", stdin=secret)
    data = cloud.kubectl("get", "secret", "owned-secret", "-o", "jsonpath={.data.password}").stdout
    assert data == "aHVudGVyMg==", "stringData is folded into base64 data"
    cloud.kubectl("delete", "acssmtp", "owner")
    eventually(
        lambda: cloud.kubectl("get", "secret", "owned-secret", check=False).returncode != 0,
        120,  # kube-controller-manager's collector learns new resource kinds on its 30 s discovery resync
        "the garbage collector (asynchronous, in a real cluster too)",
    )


def test_objects_live_in_namespaces_that_exist(cloud: Cloud, crd: None, tmp_path: Path) -> None:
    missing = cloud.kubectl("apply", "-f", "-", stdin=cr_yaml(cloud, "x", namespace="nowhere"), check=False)
    assert missing.returncode != 0 and 'namespaces "nowhere" not found' in missing.stderr
    cloud.kubectl("apply", "-f", "-", stdin="apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    cloud.kubectl("apply", "-f", "-", stdin=cr_yaml(cloud, "x", namespace="shop"))
    assert cloud.kubectl("get", "acssmtp", "-n", "shop", "-o", "name").stdout.strip().endswith("/x")
    cloud.kubectl("delete", "namespace", "shop")
    assert cloud.kubectl("get", "acssmtp", "-A", "-o", "name").stdout.count("/x\n") == 0


def test_a_crd_whose_default_breaks_its_own_rule_is_refused(cloud: Cloud, tmp_path: Path) -> None:
    """kube-apiserver validates each `default` against the CEL rules of its node when the CRD is written."""
    crd = yaml.safe_load((ROOT / "crds" / "acssmtp.io_acssmtpcredentials.yaml").read_text())
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["username"][
        "default"
    ] = {}
    result = cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(crd), check=False)
    assert result.returncode != 0
    assert "properties[username].default" in result.stderr
    assert "smtpUsername is required exactly when format is SmtpUsername" in result.stderr
