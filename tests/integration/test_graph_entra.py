"""The Graph and Entra emulators through msgraph-sdk and azure-identity (sync and aio)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import ClientSecretCredential as SyncClientSecretCredential
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from tests.conftest import Cloud, settings_for
from tests.integration.azure_helpers import add_password, remove_password

from acs_smtp_operator.azure import passwords
from acs_smtp_operator.azure.clients import AzureClients, client_secret_credential

COMMUNICATION = "https://communication.azure.com/.default"


async def token_refusal(cloud: Cloud, client_id: str, secret: str) -> str | None:
    """None if the secret gets a token, else the AADSTS code the endpoint answered."""
    credential = client_secret_credential(settings_for(cloud), cloud.manifest["tenantId"], client_id, secret)
    try:
        await credential.get_token(COMMUNICATION)
        return None
    except ClientAuthenticationError as exc:
        text = str(exc)
        return text.split("AADSTS", 1)[1].split(":", 1)[0] if "AADSTS" in text else text
    finally:
        await credential.close()


async def test_applications_and_service_principals_are_found_by_client_id(cloud: Cloud, azure: AzureClients) -> None:
    app = cloud.app("shop-mailer")
    found = await azure.graph.applications_with_app_id(app["clientId"]).get()
    assert found is not None and found.id == app["objectId"]
    sp = await azure.graph.service_principals_with_app_id(app["clientId"]).get()
    assert sp is not None and sp.id == app["servicePrincipalId"]


async def test_an_unknown_application_is_request_resource_not_found(azure: AzureClients) -> None:
    with pytest.raises(ODataError) as info:
        await azure.graph.applications_with_app_id(str(uuid.uuid4())).get()
    assert info.value.error is not None
    assert info.value.response_status_code == 404 and info.value.error.code == "Request_ResourceNotFound"


async def test_a_secret_is_returned_once_works_and_stops_working_when_removed(
    cloud: Cloud, azure: AzureClients
) -> None:
    app = cloud.app("shop-mailer")
    created = await add_password(
        azure, app["objectId"], "acs-smtp-operator test", end=datetime.now(UTC) + timedelta(days=1)
    )
    assert created.secret_text and created.hint == created.secret_text[:3]

    async def ours() -> list[PasswordCredential]:
        listed = await azure.graph.applications.by_application_id(app["objectId"]).get()
        assert listed is not None
        return [p for p in listed.password_credentials or [] if p.key_id == created.key_id]

    assert await ours() == [], "Graph is eventually consistent: a read at once does not list the new key yet"
    for _ in range(50):
        if found := await ours():
            break
        await asyncio.sleep(0.2)
    assert found and found[0].secret_text is None, "listed once replicated; the value is never shown again"
    assert await token_refusal(cloud, app["clientId"], created.secret_text) is None
    assert created.key_id is not None
    await remove_password(azure, app["objectId"], created.key_id)
    assert await token_refusal(cloud, app["clientId"], created.secret_text) == "7000215"
    with pytest.raises(ODataError) as info:
        await remove_password(azure, app["objectId"], created.key_id)
    assert info.value.error is not None
    assert info.value.response_status_code == 400 and "No password credential found" in str(info.value.error.message)


async def test_wrong_expired_and_unknown_credentials_get_their_aadsts_codes(cloud: Cloud, azure: AzureClients) -> None:
    app = cloud.app("shop-mailer")
    now = datetime.now(UTC)
    expired = await add_password(azure, app["objectId"], start=now - timedelta(days=2), end=now - timedelta(days=1))
    assert expired.secret_text is not None
    assert await token_refusal(cloud, app["clientId"], "not-the-secret") == "7000215"
    assert await token_refusal(cloud, app["clientId"], expired.secret_text) == "7000222"
    assert await token_refusal(cloud, str(uuid.uuid4()), "whatever") == "700016"


async def test_a_new_secret_is_refused_during_the_propagation_window(cloud: Cloud, azure: AzureClients) -> None:
    app = cloud.app("billing-mailer")
    cloud.settings(secretPropagationSeconds=1.5)
    created = await add_password(azure, app["objectId"])
    assert created.secret_text is not None
    assert await token_refusal(cloud, app["clientId"], created.secret_text) == "7000215"
    await asyncio.sleep(1.6)
    assert await token_refusal(cloud, app["clientId"], created.secret_text) is None


def test_the_sync_credential_discovers_the_tenant_and_gets_a_token(cloud: Cloud) -> None:
    env = cloud.env
    credential = SyncClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        connection_verify=env["ACSSMTP_CA_BUNDLE"],
        disable_instance_discovery=True,
    )
    token = credential.get_token("https://management.azure.com/.default")
    assert token.token and token.expires_on > datetime.now(UTC).timestamp() + 3000
    bad = SyncClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        "wrong",
        authority=env["AZURE_AUTHORITY_HOST"],
        connection_verify=env["ACSSMTP_CA_BUNDLE"],
        disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        bad.get_token("https://management.azure.com/.default")


async def test_graph_refuses_apps_the_operator_does_not_own(cloud: Cloud, azure: AzureClients) -> None:
    with pytest.raises(ODataError) as info:
        await add_password(azure, cloud.app("not-owned-app")["objectId"])
    assert info.value.error is not None
    assert info.value.response_status_code == 403 and info.value.error.code == "Authorization_RequestDenied"


async def test_owned_by_reads_every_application_and_its_owners_but_writes_only_its_own(
    cloud: Cloud, azure: AzureClients
) -> None:
    """Application.ReadWrite.OwnedBy "allows an app to call GET /applications and GET /servicePrincipals endpoints
    to list all applications and service principals in the tenant" (Graph's permissions reference): reading an
    application tells nothing of ownership; its owners list does (List owners: OwnedBy is enough)."""
    theirs, ours = cloud.app("not-owned-app"), cloud.app("shop-mailer")
    found = await azure.graph.applications_with_app_id(theirs["clientId"]).get()
    assert found is not None and found.id == theirs["objectId"]
    listed = await azure.graph.applications.get()
    assert listed is not None and theirs["objectId"] in {a.id for a in listed.value or []}
    operator = await azure.graph.service_principals_with_app_id(cloud.env["AZURE_CLIENT_ID"]).get()
    assert operator is not None
    owners_of_ours = await azure.graph.applications.by_application_id(ours["objectId"]).owners.get()
    owners_of_theirs = await azure.graph.applications.by_application_id(theirs["objectId"]).owners.get()
    assert owners_of_ours is not None and owners_of_theirs is not None
    ours_ids = {o.odata_type: o.id for o in owners_of_ours.value or []}
    assert list(ours_ids) == ["#microsoft.graph.servicePrincipal"]
    assert not owners_of_theirs.value
    assert ours_ids["#microsoft.graph.servicePrincipal"] == operator.id  # the operator owns its applications
    with pytest.raises(ODataError) as info:
        await add_password(azure, theirs["objectId"])
    assert info.value.response_status_code == 403


@pytest.mark.parametrize(
    ("app_name", "lifetime", "code"),
    [
        ("restricted-mailer", timedelta(days=90), "CredentialInvalidLifetimeAsPerAppPolicy"),
    ],
)
async def test_app_management_policy_refuses_long_lived_secrets(
    cloud: Cloud, azure: AzureClients, app_name: str, lifetime: timedelta, code: str
) -> None:
    with pytest.raises(ODataError) as info:
        await add_password(azure, cloud.app(app_name)["objectId"], end=datetime.now(UTC) + lifetime)
    assert info.value.error is not None
    assert info.value.response_status_code == 400 and info.value.error.code == code
    assert "max value allowed as per assigned policy" in str(info.value.error.message)
    short = await add_password(azure, cloud.app(app_name)["objectId"], end=datetime.now(UTC) + timedelta(days=7))
    assert short.secret_text


async def test_an_app_for_personal_accounts_holds_at_most_two_passwords(cloud: Cloud, azure: AzureClients) -> None:
    app = cloud.app("personal-mailer")
    await add_password(azure, app["objectId"])
    await add_password(azure, app["objectId"])
    with pytest.raises(ODataError) as info:
        await add_password(azure, app["objectId"])
    assert info.value.response_status_code == 400


async def test_arm_refuses_a_caller_without_the_permission_and_names_it(cloud: Cloud, azure: AzureClients) -> None:
    """A mail application's own secret can read nothing in ARM where it holds no role: 403 AuthorizationFailed with
    the action. (Not the ACS resource itself: the session's credentials assign this application a role there,
    and their deletions remove it only once no credential of the session uses it any more.)"""
    app = cloud.app("shop-mailer")
    secret = await add_password(azure, app["objectId"])
    assert secret.secret_text is not None
    settings = settings_for(cloud)
    credential = client_secret_credential(settings, cloud.manifest["tenantId"], app["clientId"], secret.secret_text)
    weak = AzureClients(settings, credential)
    try:
        parts = cloud.acs["resourceId"].split("/")
        with pytest.raises(HttpResponseError) as info:
            await weak.communication(cloud.manifest["subscriptionId"]).communication_services.get(
                parts[4], "no-role-here"
            )
        assert info.value.error is not None
        assert info.value.status_code == 403 and info.value.error.code == "AuthorizationFailed"
        assert info.value.error.message is not None
        assert "Microsoft.Communication/CommunicationServices/read" in info.value.error.message
    finally:
        await weak.close()
        await credential.close()


async def test_concurrent_lookups_each_find_their_own_application(cloud: Cloud, azure: AzureClients) -> None:
    """Reconciliations run side by side: one credential's lookup must never get another's application."""
    names = ["shop-mailer", "billing-mailer", "restricted-mailer", "personal-mailer"] * 3
    apps = await asyncio.gather(*(passwords.find_application(azure.graph, cloud.app(n)["clientId"]) for n in names))
    assert [a.object_id for a in apps] == [cloud.app(n)["objectId"] for n in names]
    principals = await asyncio.gather(
        *(passwords.find_service_principal(azure.graph, cloud.app(n)["clientId"]) for n in names)
    )
    assert principals == [cloud.app(n)["servicePrincipalId"] for n in names]
