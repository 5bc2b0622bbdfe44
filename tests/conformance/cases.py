"""Azure's own examples (the `x-ms-examples` of azure-rest-api-specs) of every ARM operation the operator or its
tests call, and how each is replayed against the emulator.

An example's identifiers (subscription, resource group, resource names, principal, role) are the example's
own; the replay maps them onto the sandbox tenant's (`Binding`) and sends what is left as the example has it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ARM_CASES", "ENUMS", "EXAMPLES", "GRAPH_CASES", "MAPS", "ArmCase", "Binding", "GraphCase", "example"]

EXAMPLES = Path(__file__).parent / "examples"
SPECS = "azure-rest-api-specs/specification"
_AUTHZ = f"{SPECS}/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/examples"
_AUTHZ_NEW = f"{SPECS}/authorization/resource-manager/Microsoft.Authorization/Authorization/stable/2022-04-01/examples"
_COMM = f"{SPECS}/communication/resource-manager/Microsoft.Communication/stable/2025-09-01/examples"

_ROLE_DEFINITION = "/{scope}/providers/Microsoft.Authorization/roleDefinitions/{roleDefinitionId}"
_ROLE_ASSIGNMENT = "/{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}"
_GROUP = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Communication"
_SMTP_USERNAME = _GROUP + "/communicationServices/{communicationServiceName}/smtpUsernames/{smtpUsername}"


def example(relative: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / relative).read_text())
    return loaded


@dataclass(frozen=True)
class ArmCase:
    """One example, replayed: the operation's path template (the spec's), its api-version (the SDK's), the
    example parameter that is the request body, the query the SDK sends, and the examples replayed first so that
    what this one reads or deletes exists."""

    example: str
    method: str
    template: str
    api_version: str
    body: str | None = None
    query: str = ""
    setup: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.example.rsplit("/examples/", 1)[-1].removesuffix(".json")


_V = "2022-04-01"  # azure-mgmt-authorization 4.0.0's api-version for both operation groups
_PUT_ROLE = f"{_AUTHZ}/PutRoleDefinition.json"
_CREATE_ASSIGNMENT = f"{_AUTHZ}/RoleAssignments_CreateForSubscription.json"
_CREATE_SMTP = f"{_COMM}/smtpUsername/createOrUpdate.json"

ARM_CASES: tuple[ArmCase, ...] = (
    ArmCase(_PUT_ROLE, "PUT", _ROLE_DEFINITION, "2022-04-01", body="body"),
    ArmCase(f"{_AUTHZ}/GetRoleDefinitionByName.json", "GET", _ROLE_DEFINITION, "2022-04-01", setup=(_PUT_ROLE,)),
    ArmCase(
        f"{_AUTHZ_NEW}/GetRoleDefinitionAtScope.json",
        "GET",
        "/{scope}/providers/Microsoft.Authorization/roleDefinitions",
        "2022-04-01",
        query="&$filter=roleName eq 'Role name'",  # as roles.roles_named asks
        setup=(_PUT_ROLE,),
    ),
    ArmCase(f"{_AUTHZ}/DeleteRoleDefinition.json", "DELETE", _ROLE_DEFINITION, "2022-04-01", setup=(_PUT_ROLE,)),
    ArmCase(_CREATE_ASSIGNMENT, "PUT", _ROLE_ASSIGNMENT, "2022-04-01", body="parameters"),
    ArmCase(f"{_AUTHZ}/RoleAssignments_CreateForResourceGroup.json", "PUT", _ROLE_ASSIGNMENT, _V, "parameters"),
    ArmCase(f"{_AUTHZ}/RoleAssignments_CreateForResource.json", "PUT", _ROLE_ASSIGNMENT, "2022-04-01", "parameters"),
    # The old layout's copy names api-version 2020-10-01-preview (a slip in the specs); the SDK's is sent.
    ArmCase(f"{_AUTHZ}/RoleAssignments_Get.json", "GET", _ROLE_ASSIGNMENT, _V, setup=(_CREATE_ASSIGNMENT,)),
    ArmCase(f"{_AUTHZ_NEW}/RoleAssignments_Get.json", "GET", _ROLE_ASSIGNMENT, _V, setup=(_CREATE_ASSIGNMENT,)),
    # By id: the tests read assignments so (`role_assignments.get_by_id`), the operator does not.
    ArmCase(f"{_AUTHZ}/RoleAssignments_GetById.json", "GET", "/{roleAssignmentId}", _V, setup=(_CREATE_ASSIGNMENT,)),
    ArmCase(
        f"{_AUTHZ}/RoleAssignments_ListForScope.json",
        "GET",
        "/{scope}/providers/Microsoft.Authorization/roleAssignments",
        "2022-04-01",
        query="&$filter=atScope()",  # as roles.assignments_at asks
        setup=(_CREATE_ASSIGNMENT,),
    ),
    ArmCase(f"{_AUTHZ}/RoleAssignments_Delete.json", "DELETE", _ROLE_ASSIGNMENT, _V, setup=(_CREATE_ASSIGNMENT,)),
    ArmCase(
        f"{_COMM}/communicationServices/get.json",
        "GET",
        _GROUP + "/communicationServices/{communicationServiceName}",
        "2025-09-01",
    ),
    ArmCase(
        f"{_COMM}/domains/get.json",
        "GET",
        _GROUP + "/emailServices/{emailServiceName}/domains/{domainName}",
        "2025-09-01",
    ),
    ArmCase(_CREATE_SMTP, "PUT", _SMTP_USERNAME, "2025-09-01", body="parameters"),
    ArmCase(f"{_COMM}/smtpUsername/get.json", "GET", _SMTP_USERNAME, "2025-09-01", setup=(_CREATE_SMTP,)),
    ArmCase(
        f"{_COMM}/smtpUsername/getAll.json",
        "GET",
        _GROUP + "/communicationServices/{communicationServiceName}/smtpUsernames",
        "2025-09-01",
        setup=(_CREATE_SMTP,),
    ),
    ArmCase(f"{_COMM}/smtpUsername/delete.json", "DELETE", _SMTP_USERNAME, "2025-09-01", setup=(_CREATE_SMTP,)),
)


@dataclass(frozen=True)
class GraphCase:
    """One Graph call: its shape file (from the Graph docs' example) and how the replay fills its path."""

    shape: str  # file under examples/graph

    @property
    def name(self) -> str:
        return self.shape.removesuffix(".json")


GRAPH_CASES: tuple[GraphCase, ...] = tuple(
    GraphCase(f"{n}.json")
    for n in (
        "application-get",
        "application-list",  # the tests list applications; the operator reads one by appId
        "serviceprincipal-get",
        "application-list-owners",
        "application-addpassword",
        "application-removepassword",
    )
)


@dataclass
class Binding:
    """The example's identifiers mapped onto the sandbox's: whole values first, then parts of ids."""

    exact: dict[str, str]
    parts: dict[str, str]

    def bind(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.bind(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.bind(v) for v in value]
        if isinstance(value, str):
            if value in self.exact:
                return self.exact[value]
            for old in sorted(self.parts, key=len, reverse=True):
                value = value.replace(old, self.parts[old])
            return value
        return value

    def path(self, template: str, parameters: dict[str, Any]) -> str:
        def fill(match: re.Match[str]) -> str:
            return str(self.bind(parameters[match.group(1)]))

        return re.sub(r"\{(\w+)\}", fill, template)


# The enums of the properties the examples and the emulator carry, as the spec (through the SDK's generated
# models, azure-mgmt-authorization 4.0.0 / azure-mgmt-communication 3.0.0) and Graph's resource docs define them.
def _enums() -> dict[str, frozenset[str]]:
    from azure.mgmt.authorization.v2022_04_01.models import PrincipalType
    from azure.mgmt.communication.models import (
        CommunicationServicesProvisioningState,
        DomainManagement,
        DomainsProvisioningState,
        ManagedServiceIdentityType,
        PublicNetworkAccess,
        UserEngagementTracking,
        VerificationStatus,
    )

    def values(*enums: Any) -> frozenset[str]:
        return frozenset(str(member.value) for enum in enums for member in enum)

    return {
        "$*.properties.principalType": values(PrincipalType),
        "$*.properties.provisioningState": values(CommunicationServicesProvisioningState, DomainsProvisioningState),
        "$*.properties.domainManagement": values(DomainManagement),
        "$*.properties.verificationStates.*.status": values(VerificationStatus),
        "$*.properties.userEngagementTracking": values(UserEngagementTracking),
        "$*.properties.publicNetworkAccess": values(PublicNetworkAccess),
        "$*.identity.type": values(ManagedServiceIdentityType),
        # application resource type (Graph v1.0): signInAudience
        "$.signInAudience": frozenset(
            {"AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount"}
        ),
    }


ENUMS = _enums()

# Objects keyed by record whose entries share one shape (DomainPropertiesVerificationStates: Domain, SPF, DKIM,
# DKIM2, DMARC; DomainPropertiesVerificationRecords likewise).
MAPS = frozenset({"$*.properties.verificationStates", "$*.properties.verificationRecords"})
