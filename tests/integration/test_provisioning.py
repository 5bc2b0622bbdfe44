"""Provisioning end to end: the real operator, the sandbox, kubectl and an SMTP client."""

from __future__ import annotations

import urllib.parse
import uuid

import pytest
from tests.conftest import ROOT, Cloud
from tests.integration.operator_helpers import (
    apply,
    azure_writes,
    delivered,
    eventually,
    get,
    permit,
    secret_data,
    send_with,
    wait_ready,
    wait_reason,
)

from acs_smtp_operator.azure.clients import AzureClients
from acs_smtp_operator.azure.passwords import remove_password

pytestmark = pytest.mark.usefixtures("operator")


def test_the_example_yields_a_secret_that_sends_mail(cloud: Cloud, ns: str) -> None:
    example = (ROOT / "examples" / "shop-mailer.yaml").read_text().replace("namespace: default", f"namespace: {ns}")
    cloud.kubectl("apply", "-f", "-", stdin=example)
    wait_ready(cloud, ns, "shop-mailer")
    secret = get(cloud, ns, "secret", "shop-mailer-smtp")
    assert secret is not None and secret["type"] == "kubernetes.io/basic-auth"
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "AcsSmtpCredential"
    data = secret_data(cloud, ns, "shop-mailer-smtp")
    assert data is not None
    assert set(data) == {"username", "password", "host", "port", "starttls", "from"}
    app = cloud.app("shop-mailer")["clientId"]
    assert data["username"] == f"{cloud.acs['name']}.{app}.{cloud.manifest['tenantId']}"
    assert (data["host"], data["port"], data["starttls"]) == (
        cloud.env["ACSSMTP_SMTP_HOST"],
        cloud.env["ACSSMTP_SMTP_PORT"],
        "true",
    )
    assert data["from"] == f"DoNotReply@{cloud.acs['senderDomains'][0]}"
    subject = f"example {uuid.uuid4()}"
    send_with(cloud, data, subject)
    assert delivered(cloud, subject)
    status = (get(cloud, ns, "acssmtp", "shop-mailer") or {})["status"]
    assert status["currentKeyId"] == secret["metadata"]["annotations"]["acssmtp.io/key-id"]
    assert status["username"] == data["username"] and status["secretName"] == "shop-mailer-smtp"
    assert status["notAfter"] > status["renewalTime"] > status["lastRotationTime"]
    assert data["password"] not in str(status), "no secret in status"


def test_the_pipe_form_username_logs_in(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "piped", username={"format": "Pipe"})
    wait_ready(cloud, ns, "piped")
    data = secret_data(cloud, ns, "piped-smtp")
    assert data is not None and data["username"].count("|") == 2
    subject = f"pipe {uuid.uuid4()}"
    send_with(cloud, data, subject)
    assert delivered(cloud, subject)


def test_reapplying_and_resyncing_make_no_azure_write(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "steady", app="billing-mailer")
    wait_ready(cloud, ns, "steady")
    cloud.control.post("/reset")
    apply(cloud, ns, "steady", app="billing-mailer")
    cloud.kubectl("label", "acssmtp", "steady", "-n", ns, "touched=yes")  # an update the handlers see
    eventually(
        lambda: len([r for r in cloud.requests() if r["api"] == "arm"]) >= 6,
        30,
        "resync reads (the drift check runs every 2 s here)",
    )
    billing = cloud.app("billing-mailer")["objectId"]
    mine = [w for w in azure_writes(cloud) if billing in w["path"]]
    assert mine == [], mine


def test_two_credentials_in_one_resource_group_share_one_role_definition(cloud: Cloud, ns: str) -> None:
    name = f"Shared sender {uuid.uuid4().hex[:6]}"
    permit(cloud, ns, names=[ns], role={"customRoleName": name})
    apply(cloud, ns, "first")
    apply(cloud, ns, "second", app="billing-mailer")
    first, second = wait_ready(cloud, ns, "first"), wait_ready(cloud, ns, "second")
    assert first and second
    ids = {(get(cloud, ns, "acssmtp", n) or {})["status"]["roleDefinitionId"] for n in ("first", "second")}
    assert len(ids) == 1
    roles = [r for r in cloud.state()["roleDefinitions"] if r["properties"]["roleName"] == name]
    assert len(roles) == 1


def test_an_email_smtp_username_logs_in_and_a_template_url_parses_back(cloud: Cloud, ns: str) -> None:
    email = f"orders-{uuid.uuid4().hex[:6]}@{cloud.acs['senderDomains'][0]}"
    apply(
        cloud,
        ns,
        "named",
        username={"format": "SmtpUsername", "smtpUsername": email},
        secret={
            "template": {
                "data": {"SMTP_URL": "smtp://{{ username|urlquote }}:{{ password|urlquote }}@{{ host }}:{{ port }}"}
            }
        },
    )
    wait_ready(cloud, ns, "named")
    data = secret_data(cloud, ns, "named-smtp")
    assert data is not None and data["username"] == email
    subject = f"smtpUsername {uuid.uuid4()}"
    send_with(cloud, data, subject)
    assert delivered(cloud, subject)[0]["username"] == email
    url = urllib.parse.urlsplit(data["SMTP_URL"])
    assert urllib.parse.unquote(url.username or "") == email
    assert urllib.parse.unquote(url.password or "") == data["password"]
    assert (url.hostname, url.port) == (data["host"], int(data["port"]))


def test_an_email_username_off_the_linked_domains_is_a_condition_not_a_write(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "offdomain", username={"format": "SmtpUsername", "smtpUsername": "x@elsewhere.example"})
    found = wait_reason(cloud, ns, "offdomain", "SmtpUsernameInvalid")
    assert "x@elsewhere.example" in found["message"]
    assert not [u for u in cloud.state()["smtpUsernames"] if u["properties"]["username"] == "x@elsewhere.example"]


def test_a_deleted_secret_is_reissued_at_once(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "healme")
    wait_ready(cloud, ns, "healme")
    before = secret_data(cloud, ns, "healme-smtp")
    cloud.kubectl("delete", "secret", "healme-smtp", "-n", ns)
    after = eventually(lambda: secret_data(cloud, ns, "healme-smtp"), 10, "the Secret to come back")
    assert before is not None and after["password"] != before["password"]
    subject = f"healed {uuid.uuid4()}"
    send_with(cloud, after, subject)
    assert delivered(cloud, subject)


def test_an_emptied_secret_is_reissued(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "emptied")
    wait_ready(cloud, ns, "emptied")
    cloud.kubectl("patch", "secret", "emptied-smtp", "-n", ns, "--type", "merge", "-p", '{"data":{"password":""}}')
    data = eventually(
        lambda: d if (d := secret_data(cloud, ns, "emptied-smtp")) and d.get("password") else None,
        10,
        "a password again",
    )
    send_with(cloud, data, f"emptied {uuid.uuid4()}")


def test_a_foreign_secret_is_left_untouched_with_secret_conflict(cloud: Cloud, ns: str) -> None:
    cloud.kubectl(
        "apply",
        "-f",
        "-",
        stdin=f"""
apiVersion: v1
kind: Secret
metadata: {{name: theirs, namespace: {ns}}}
stringData: {{password: do-not-touch}}
""",
    )
    apply(cloud, ns, "conflicted", secret={"name": "theirs"})
    found = wait_reason(cloud, ns, "conflicted", "SecretConflict")
    assert "theirs" in found["message"]
    assert (secret_data(cloud, ns, "theirs") or {}) == {"password": "do-not-touch"}


async def test_an_out_of_band_removed_role_assignment_is_restored(cloud: Cloud, ns: str, azure: AzureClients) -> None:
    apply(cloud, ns, "assigned", app="billing-mailer")
    wait_ready(cloud, ns, "assigned")
    assignment = (get(cloud, ns, "acssmtp", "assigned") or {})["status"]["roleAssignmentId"]
    scope, _, guid = assignment.partition("/providers/Microsoft.Authorization/roleAssignments/")
    await azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.delete(scope, guid)
    eventually(
        lambda: any(a["id"] == assignment for a in cloud.state()["roleAssignments"]),
        30,
        "the drift check to restore the assignment",
    )


async def test_an_out_of_band_removed_key_is_replaced(cloud: Cloud, ns: str, azure: AzureClients) -> None:
    apply(cloud, ns, "rekeyed")
    wait_ready(cloud, ns, "rekeyed")
    old = (get(cloud, ns, "acssmtp", "rekeyed") or {})["status"]["currentKeyId"]
    # Out of band, as an administrator would: retried while Graph does not list the new key yet.
    await remove_password(azure.graph, cloud.app("shop-mailer")["objectId"], old, fresh_for=10)
    eventually(lambda: (get(cloud, ns, "acssmtp", "rekeyed") or {})["status"]["currentKeyId"] != old, 30, "a new key")
    data = secret_data(cloud, ns, "rekeyed-smtp")
    assert data is not None
    send_with(cloud, data, f"rekeyed {uuid.uuid4()}")
