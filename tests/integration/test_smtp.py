"""The ACS SMTP emulator through smtplib and aiosmtplib."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
import pytest
from azure.mgmt.communication.models import SmtpUsernameProperties, SmtpUsernameResource
from tests.conftest import Cloud
from tests.integration.azure_helpers import add_password, grant_send

from acs_smtp_operator.azure.clients import AzureClients


def message(sender: str, subject: str = "hello") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "customer@example.org", subject
    msg.set_content("Your order has shipped.")
    return msg


@pytest.fixture
def trust(cloud: Cloud) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cloud.manifest["caBundle"])


@pytest.fixture
def smtp(cloud: Cloud, trust: ssl.SSLContext) -> Iterator[smtplib.SMTP]:
    with smtplib.SMTP(cloud.manifest["smtp"]["host"], cloud.manifest["smtp"]["port"], timeout=10) as client:
        client.starttls(context=trust)
        yield client


def dot(cloud: Cloud, app: str) -> str:
    return f"{cloud.acs['name']}.{cloud.app(app)['clientId']}.{cloud.manifest['tenantId']}"


def sender(cloud: Cloud) -> str:
    return f"DoNotReply@{cloud.acs['senderDomains'][0]}"


async def granted_secret(cloud: Cloud, azure: AzureClients, app: str = "shop-mailer") -> str:
    await grant_send(azure, cloud.acs["resourceId"], cloud.app(app)["servicePrincipalId"])
    created = await add_password(azure, cloud.app(app)["objectId"])
    assert created.secret_text is not None
    return created.secret_text


async def test_login_with_a_granted_secret_delivers_the_mail(
    cloud: Cloud, azure: AzureClients, smtp: smtplib.SMTP
) -> None:
    secret = await granted_secret(cloud, azure)
    subject = f"order {uuid.uuid4()}"
    smtp.login(dot(cloud, "shop-mailer"), secret)
    smtp.send_message(message(sender(cloud), subject))
    delivered = [m for m in cloud.control.get("/messages").json() if m["subject"] == subject]
    assert delivered and delivered[0]["mailFrom"] == sender(cloud)
    assert delivered[0]["communicationService"] == cloud.acs["resourceId"]


async def test_the_pipe_form_and_an_smtp_username_resource_log_in_too(
    cloud: Cloud, azure: AzureClients, trust: ssl.SSLContext
) -> None:
    secret = await granted_secret(cloud, azure)
    app = cloud.app("shop-mailer")["clientId"]
    pipe = f"{cloud.acs['name']}|{app}|{cloud.manifest['tenantId']}"
    email = f"mailer-{uuid.uuid4().hex[:6]}@{cloud.acs['senderDomains'][0]}"
    parts = cloud.acs["resourceId"].split("/")
    await azure.communication(cloud.manifest["subscriptionId"]).smtp_usernames.create_or_update(
        parts[4],
        parts[8],
        uuid.uuid4().hex[:8],
        SmtpUsernameResource(
            properties=SmtpUsernameProperties(
                username=email, entra_application_id=app, tenant_id=cloud.manifest["tenantId"]
            )
        ),
    )
    for username in (pipe, email):
        await aiosmtplib.send(
            message(sender(cloud)),
            hostname=cloud.manifest["smtp"]["host"],
            port=cloud.manifest["smtp"]["port"],
            start_tls=True,
            tls_context=trust,
            username=username,
            password=secret,
        )


async def test_auth_plain_is_not_offered(cloud: Cloud, azure: AzureClients, smtp: smtplib.SMTP) -> None:
    secret = await granted_secret(cloud, azure)
    smtp.ehlo()
    assert "PLAIN" not in smtp.esmtp_features.get("auth", "")
    with pytest.raises(smtplib.SMTPException):
        smtp.auth("PLAIN", lambda challenge=None: f"\0{dot(cloud, 'shop-mailer')}\0{secret}")


def test_auth_without_starttls_is_refused(cloud: Cloud) -> None:
    with smtplib.SMTP(cloud.manifest["smtp"]["host"], cloud.manifest["smtp"]["port"], timeout=10) as plain:
        plain.ehlo()
        with pytest.raises(smtplib.SMTPException):
            plain.login(dot(cloud, "shop-mailer"), "anything")
        with pytest.raises(smtplib.SMTPSenderRefused):
            plain.sendmail(sender(cloud), ["x@example.org"], "Subject: x\n\nx")


@pytest.mark.parametrize("case", ["a wrong secret", "no role assignment", "an unknown resource name"])
async def test_refused_logins_answer_535_5_7_3(
    cloud: Cloud, azure: AzureClients, smtp: smtplib.SMTP, case: str
) -> None:
    if case == "a wrong secret":
        await granted_secret(cloud, azure)
        username, secret = dot(cloud, "shop-mailer"), "wrong"
    elif case == "no role assignment":
        created = await add_password(
            azure, cloud.app("restricted-mailer")["objectId"], end=datetime.now(UTC) + timedelta(days=1)
        )
        username, secret = dot(cloud, "restricted-mailer"), str(created.secret_text)
    else:
        secret = await granted_secret(cloud, azure)
        username = dot(cloud, "shop-mailer").replace(cloud.acs["name"], "elsewhere-acs", 1)
    with pytest.raises(smtplib.SMTPAuthenticationError) as info:
        smtp.login(username, secret)
    assert info.value.smtp_code == 535 and b"5.7.3 Authentication unsuccessful" in info.value.smtp_error


async def test_a_sender_off_the_linked_domains_is_refused(
    cloud: Cloud, azure: AzureClients, smtp: smtplib.SMTP
) -> None:
    secret = await granted_secret(cloud, azure)
    smtp.login(dot(cloud, "shop-mailer"), secret)
    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        smtp.send_message(message("someone@elsewhere.example"))
    assert info.value.smtp_code == 550
