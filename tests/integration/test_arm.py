"""The ARM emulator through azure-mgmt-communication and azure-mgmt-authorization (aio)."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.authorization.v2022_04_01.models import Permission, RoleAssignmentCreateParameters, RoleDefinition
from azure.mgmt.communication.aio import CommunicationServiceManagementClient
from azure.mgmt.communication.models import SmtpUsernameProperties, SmtpUsernameResource
from tests.conftest import Cloud
from tests.integration.azure_helpers import SEND_ACTIONS, resource_group_of

from acs_smtp_operator.azure.clients import AzureClients


def split(resource_id: str) -> tuple[str, str]:
    parts = resource_id.split("/")
    return parts[4], parts[8]


def role(name: str, scope: str, actions: list[str] | None = None, scopes: list[str] | None = None) -> RoleDefinition:
    return RoleDefinition(
        role_name=name,
        role_type="CustomRole",
        permissions=[Permission(actions=actions or SEND_ACTIONS)],
        assignable_scopes=[scope] if scopes is None else scopes,
    )


async def test_the_acs_resource_lists_its_linked_domains(cloud: Cloud, azure: AzureClients) -> None:
    found = await azure.communication(cloud.manifest["subscriptionId"]).communication_services.get(
        *split(cloud.acs["resourceId"])
    )
    assert found.properties is not None and found.properties.linked_domains is not None
    assert found.properties.linked_domains[0].endswith("/domains/" + cloud.acs["linkedDomains"][0])
    empty = await azure.communication(cloud.manifest["subscriptionId"]).communication_services.get(
        *split(cloud.acs_without_domain["resourceId"])
    )
    assert empty.properties is not None
    assert not empty.properties.linked_domains


async def test_a_missing_acs_resource_the_identity_holds_nothing_on_is_forbidden(
    cloud: Cloud, azure: AzureClients
) -> None:
    """ARM authorises before it looks: a least-privilege identity learns nothing of resources it holds no role on."""
    rg, _ = split(cloud.acs["resourceId"])
    with pytest.raises(HttpResponseError) as info:
        await azure.communication(cloud.manifest["subscriptionId"]).communication_services.get(rg, "nope")
    assert info.value.error is not None
    assert info.value.status_code == 403 and info.value.error.code == "AuthorizationFailed"
    assert "or the scope is invalid" in str(info.value.error.message)


async def test_a_missing_domain_where_the_identity_may_read_is_resource_not_found(
    cloud: Cloud, azure: AzureClients
) -> None:
    rg, _ = split(cloud.acs["resourceId"])
    domains = azure.communication(cloud.manifest["subscriptionId"]).domains
    with pytest.raises(ResourceNotFoundError) as info:
        await domains.get(rg, "email-sandbox", "nope.example.com")
    assert info.value.error is not None
    assert info.value.error.code == "ResourceNotFound"
    managed = await domains.get(rg, "email-sandbox", "AzureManagedDomain")
    assert managed.properties is not None and managed.properties.domain_management == "AzureManaged"
    assert managed.properties.mail_from_sender_domain in cloud.acs["senderDomains"]
    assert str(managed.properties.mail_from_sender_domain).endswith(".azurecomm.net")


async def test_smtp_usernames_are_created_updated_listed_and_deleted(cloud: Cloud, azure: AzureClients) -> None:
    rg, name = split(cloud.acs["resourceId"])
    ops = azure.communication(cloud.manifest["subscriptionId"]).smtp_usernames
    app = cloud.app("shop-mailer")["clientId"]
    email = f"mailer@{cloud.acs['senderDomains'][0]}"
    created = await ops.create_or_update(
        rg,
        name,
        "shop",
        SmtpUsernameResource(
            properties=SmtpUsernameProperties(
                username=email, entra_application_id=app, tenant_id=cloud.manifest["tenantId"]
            )
        ),
    )
    assert created.username == email
    await ops.create_or_update(
        rg,
        name,
        "shop",
        SmtpUsernameResource(
            properties=SmtpUsernameProperties(
                username="shop-free-text", entra_application_id=app, tenant_id=cloud.manifest["tenantId"]
            )
        ),
    )
    assert (await ops.get(rg, name, "shop")).username == "shop-free-text"
    assert [u.name async for u in ops.list(rg, name)] == ["shop"]
    await ops.delete(rg, name, "shop")
    await ops.delete(rg, name, "shop")  # 204 when absent: no error
    with pytest.raises(ResourceNotFoundError):
        await ops.get(rg, name, "shop")


async def test_an_email_username_off_the_linked_domains_is_refused(cloud: Cloud, azure: AzureClients) -> None:
    rg, name = split(cloud.acs["resourceId"])
    with pytest.raises(HttpResponseError) as info:
        await azure.communication(cloud.manifest["subscriptionId"]).smtp_usernames.create_or_update(
            rg,
            name,
            "x",
            SmtpUsernameResource(
                properties=SmtpUsernameProperties(
                    username="mailer@elsewhere.example",
                    entra_application_id=cloud.app("shop-mailer")["clientId"],
                    tenant_id=cloud.manifest["tenantId"],
                )
            ),
        )
    assert info.value.status_code == 400


async def test_role_names_are_unique_in_the_tenant(cloud: Cloud, azure: AzureClients) -> None:
    scope = resource_group_of(cloud.acs["resourceId"])
    name = f"unique {uuid.uuid4()}"
    first = await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.create_or_update(
        scope, str(uuid.uuid4()), role(name, scope)
    )
    again = await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.create_or_update(
        scope, first.name, role(name, scope)
    )
    assert again.id == first.id, "an update of the same id is accepted (201)"
    with pytest.raises(HttpResponseError) as info:
        await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.create_or_update(
            cloud.acs["resourceId"], str(uuid.uuid4()), role(name.upper(), cloud.acs["resourceId"])
        )
    assert info.value.error is not None
    assert info.value.status_code == 409 and info.value.error.code == "RoleDefinitionWithSameNameExists"
    listed = [
        r
        async for r in azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.list(
            scope, filter=f"roleName eq '{name}'"
        )
    ]
    assert [r.id for r in listed] == [first.id]


@pytest.mark.parametrize(
    ("scopes", "code"),
    [
        ([], "MissingAssignableScopes"),
        (["/subscriptions/00000000-0000-0000-0000-000000000000"], "LinkedInvalidPropertyId"),
    ],
    ids=["no assignable scope", "an assignable scope that does not exist"],
)
async def test_bad_assignable_scopes_are_refused(
    cloud: Cloud, azure: AzureClients, scopes: list[str], code: str
) -> None:
    scope = resource_group_of(cloud.acs["resourceId"])
    with pytest.raises(HttpResponseError) as info:
        await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.create_or_update(
            scope, str(uuid.uuid4()), role(f"r {uuid.uuid4()}", scope, scopes=scopes)
        )
    assert info.value.error is not None
    assert info.value.status_code == 400 and info.value.error.code == code


async def test_role_assignments_follow_the_documented_conflicts(cloud: Cloud, azure: AzureClients) -> None:
    acs_id = cloud.acs["resourceId"]
    scope = resource_group_of(acs_id)
    definition = await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.create_or_update(
        scope, str(uuid.uuid4()), role(f"assign {uuid.uuid4()}", scope)
    )
    sp = cloud.app("shop-mailer")["servicePrincipalId"]
    params = RoleAssignmentCreateParameters(
        role_definition_id=definition.id, principal_id=sp, principal_type="ServicePrincipal"
    )
    name = str(uuid.uuid4())
    made = await azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.create(acs_id, name, params)
    assert (
        await azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.create(acs_id, name, params)
    ).id == made.id
    with pytest.raises(HttpResponseError) as exists:
        await azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.create(
            acs_id, str(uuid.uuid4()), params
        )
    assert exists.value.error is not None
    assert exists.value.status_code == 409 and exists.value.error.code == "RoleAssignmentExists"
    assert exists.value.error.message is not None
    assert name.replace("-", "") in exists.value.error.message
    other = RoleAssignmentCreateParameters(
        role_definition_id=definition.id,
        principal_type="ServicePrincipal",
        principal_id=cloud.app("billing-mailer")["servicePrincipalId"],
    )
    with pytest.raises(HttpResponseError) as update:
        await azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.create(acs_id, name, other)
    assert update.value.error is not None
    assert update.value.error.code == "RoleAssignmentUpdateNotPermitted"
    with pytest.raises(HttpResponseError) as assigned:
        await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.delete(scope, definition.name)
    assert assigned.value.error is not None
    assert assigned.value.error.code == "RoleDefinitionHasAssignments"
    listed = [
        a
        async for a in azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.list_for_scope(
            acs_id, filter=f"principalId eq '{sp}'"
        )
    ]
    assert made.id in [a.id for a in listed]
    await azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.delete(acs_id, name)
    await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.delete(scope, definition.name)
    with pytest.raises(ResourceNotFoundError) as gone:
        await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.get(scope, definition.name)
    assert gone.value.error is not None
    assert gone.value.error.code == "RoleDefinitionDoesNotExist"


async def test_principal_not_found_during_replication_unless_principal_type_is_set(
    cloud: Cloud, azure: AzureClients
) -> None:
    acs_id = cloud.acs["resourceId"]
    scope = resource_group_of(acs_id)
    definition = await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.create_or_update(
        scope, str(uuid.uuid4()), role(f"replication {uuid.uuid4()}", scope)
    )
    sp = cloud.app("billing-mailer")["servicePrincipalId"]
    cloud.settings(principalReplicationSeconds=60)
    with pytest.raises(HttpResponseError) as info:
        await azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.create(
            acs_id,
            str(uuid.uuid4()),
            # no principalType at all (the serializer drops None), which the SDK's annotation does not allow for
            RoleAssignmentCreateParameters(
                role_definition_id=definition.id,
                principal_id=sp,
                principal_type=None,  # type: ignore[arg-type]
            ),
        )
    assert info.value.error is not None
    assert info.value.error.code == "PrincipalNotFound"
    typed = await azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.create(
        acs_id,
        str(uuid.uuid4()),
        RoleAssignmentCreateParameters(
            role_definition_id=definition.id, principal_id=sp, principal_type="ServicePrincipal"
        ),
    )
    assert typed.principal_id == sp
    with pytest.raises(HttpResponseError) as unknown:
        await azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.create(
            acs_id,
            str(uuid.uuid4()),
            RoleAssignmentCreateParameters(
                role_definition_id=definition.id, principal_id=str(uuid.uuid4()), principal_type="ServicePrincipal"
            ),
        )
    assert unknown.value.error is not None
    assert unknown.value.error.code == "PrincipalNotFound"


async def test_the_sdk_default_principal_type_user_is_refused_for_a_service_principal(
    cloud: Cloud, azure: AzureClients
) -> None:
    """azure-mgmt-authorization sends principalType "User" unless told otherwise; ARM refuses that for an SP."""
    acs_id = cloud.acs["resourceId"]
    scope = resource_group_of(acs_id)
    definition = await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.create_or_update(
        scope, str(uuid.uuid4()), role(f"typed {uuid.uuid4()}", scope)
    )
    with pytest.raises(HttpResponseError) as info:
        await azure.authorization(cloud.manifest["subscriptionId"]).role_assignments.create(
            acs_id,
            str(uuid.uuid4()),
            RoleAssignmentCreateParameters(
                role_definition_id=definition.id, principal_id=cloud.app("shop-mailer")["servicePrincipalId"]
            ),
        )
    assert info.value.error is not None
    assert info.value.error.code == "UnmatchedPrincipalType"


async def test_smtp_usernames_exist_only_in_the_api_versions_that_have_them(cloud: Cloud, azure: AzureClients) -> None:
    """The stable 2025-05-01 has no smtpUsernames (first stable: 2025-09-01, the SDK's); a username equal to
    the entry's name is refused (reported by public infrastructure code; the specs say nothing)."""
    rg, name = split(cloud.acs["resourceId"])
    ops = azure.communication(cloud.manifest["subscriptionId"]).smtp_usernames
    for version, there in (("2025-05-01", False), ("2025-05-01-preview", True), ("2026-03-18", True)):
        client = CommunicationServiceManagementClient(
            azure._credential, cloud.manifest["subscriptionId"], **azure._arm_options(), api_version=version
        )
        try:
            with pytest.raises(HttpResponseError) as info:
                await client.smtp_usernames.get(rg, name, "anything")
        finally:
            await client.close()
        code = info.value.error.code if info.value.error is not None else None
        assert (code == "ResourceNotFound") is there and (code == "InvalidApiVersionParameter") is not there, version
    with pytest.raises(HttpResponseError) as info:
        await ops.create_or_update(
            rg,
            name,
            "samename",
            SmtpUsernameResource(
                properties=SmtpUsernameProperties(
                    username="samename",
                    entra_application_id=cloud.app("shop-mailer")["clientId"],
                    tenant_id=cloud.manifest["tenantId"],
                )
            ),
        )
    assert info.value.status_code == 400 and "must differ from the resource name" in str(info.value.message)
