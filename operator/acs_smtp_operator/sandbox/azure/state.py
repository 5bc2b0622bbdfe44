"""The emulated tenant: directory objects, ARM resources and the rules that judge them.

Everything here is in memory and free of I/O; the HTTP layer and the SMTP
server both read and change one `Cloud`. Secret values are kept only as
hashes: the emulator never holds (or logs) a client secret in clear.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from acs_smtp_operator.sandbox.seed import (
    AZURE_MANAGED_DOMAIN,
    OPERATOR_ARM_GRANTS,
    OPERATOR_GRAPH_PERMISSIONS,
    Seed,
    derive_guid,
)

__all__ = [
    "BUILTIN_ROLES",
    "LEGACY_SMTP_SEND_ACTIONS",
    "MAX_FEDERATED_CREDENTIALS",
    "SENDING_RECORDS",
    "SMTP_SEND_ACTIONS",
    "Application",
    "Cloud",
    "CommunicationService",
    "Domain",
    "FederatedCredential",
    "Knobs",
    "ManagedIdentity",
    "PasswordCredential",
    "RoleAssignment",
    "RoleDefinition",
    "ServicePrincipal",
    "SmtpUsername",
    "hash_secret",
    "scope_contains",
]

# What a service principal must be granted on an ACS resource to send mail over SMTP: Microsoft's SMTP
# authentication page as it reads today (three actions), and as it read before (two; `smtpRoleActions: Legacy`).
SMTP_SEND_ACTIONS: tuple[str, ...] = (
    "Microsoft.Communication/CommunicationServices/Read",
    "Microsoft.Communication/CommunicationServices/Write",
    "Microsoft.Communication/EmailServices/write",
)
LEGACY_SMTP_SEND_ACTIONS: tuple[str, ...] = (
    "Microsoft.Communication/CommunicationServices/Read",
    "Microsoft.Communication/EmailServices/write",
)
# The records whose verification a custom domain needs before mail is sent from it (DMARC is advised, not needed).
SENDING_RECORDS: tuple[str, ...] = ("Domain", "SPF", "DKIM", "DKIM2")

# Built-in roles by GUID (the real, well-known ids).
BUILTIN_ROLES: dict[str, tuple[str, list[str]]] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": ("Owner", ["*"]),
    "b24988ac-6180-42a0-ab88-20f7382dd24c": ("Contributor", ["*"]),
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": ("Reader", ["*/read"]),
    # Its actions as the role lists them (azure-rbac-catalog.org; Microsoft documents the role by name only).
    "09976791-48a7-449e-bb21-39d1a415f350": (
        "Communication and Email Service Owner",
        [
            "Microsoft.Communication/CheckNameAvailability/action",
            "Microsoft.Communication/Locations/OperationStatuses/read",
            "Microsoft.Communication/Locations/OperationStatuses/write",
            "Microsoft.Communication/Operations/read",
            "Microsoft.Communication/CommunicationServices/read",
            "Microsoft.Communication/CommunicationServices/write",
            "Microsoft.Communication/CommunicationServices/delete",
            "Microsoft.Communication/CommunicationServices/ListKeys/action",
            "Microsoft.Communication/CommunicationServices/RegenerateKey/action",
            "Microsoft.Communication/EmailServices/read",
            "Microsoft.Communication/EmailServices/write",
            "Microsoft.Communication/EmailServices/delete",
            "Microsoft.Communication/EmailServices/Domains/read",
            "Microsoft.Communication/EmailServices/Domains/write",
            "Microsoft.Communication/EmailServices/Domains/delete",
        ],
    ),
}


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def scope_contains(outer: str, inner: str) -> bool:
    """True if `inner` is `outer` or lies beneath it (ARM scopes are case-insensitive)."""
    o, i = outer.rstrip("/").lower(), inner.rstrip("/").lower()
    return o == "" or i == o or i.startswith(o + "/")


@dataclass
class Knobs:
    """Timing behaviour of the tenant, changed through the control API."""

    secret_propagation_seconds: float = 0.0  # a new client secret is refused this long
    # Until then, a role assignment without principalType gets PrincipalNotFound (replication delay).
    principal_replication_until: datetime | None = None
    assignment_propagation_seconds: float = 0.0  # a new role assignment takes effect this late
    role_assignment_limit: int = 4000
    rollout_seconds: float = 1.0  # Kubernetes: how long a restarted workload takes to roll out
    # Graph reads lag writes this long: a new client secret is not listed (nor removable) yet, a removed one
    # still is (Microsoft Entra is eventually consistent).
    graph_lag_seconds: float = 2.0
    smtp_role_actions: Literal["Current", "Legacy"] = "Current"  # the three documented actions, or the older two


@dataclass
class PasswordCredential:
    key_id: str
    display_name: str
    hint: str
    secret_hash: str
    start: datetime
    end: datetime
    created: datetime
    removed: datetime | None = None  # removed, but still listed by lagging reads until then + the lag

    def listed(self, now: datetime, lag: timedelta) -> bool:
        """Does a Graph read at `now` (replicas `lag` behind) still or already show this key?"""
        if self.created + lag > now:
            return False
        return self.removed is None or self.removed + lag > now

    def to_graph(self) -> dict[str, object]:
        return {
            "customKeyIdentifier": None,
            "displayName": self.display_name,
            "endDateTime": _iso(self.end),
            "hint": self.hint,
            "keyId": self.key_id,
            "secretText": None,
            "startDateTime": _iso(self.start),
        }


@dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential: tokens of `issuer` about `subject` for one of `audiences` sign the app in.

    Entra matches issuer and subject exactly, case included (Graph's federatedIdentityCredential resource).
    """

    id: str
    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...]
    description: str = ""

    def to_graph(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": list(self.audiences),
            "description": self.description or None,
        }


@dataclass
class Application:
    object_id: str
    app_id: str
    display_name: str
    owners: set[str]
    personal_accounts: bool = False
    max_password_lifetime: timedelta | None = None
    passwords_allowed: bool = True
    passwords: list[PasswordCredential] = field(default_factory=list)
    federated: list[FederatedCredential] = field(default_factory=list)

    @property
    def live(self) -> list[PasswordCredential]:
        """The client secrets that exist (whatever a lagging read shows)."""
        return [p for p in self.passwords if p.removed is None]

    def to_graph(self, now: datetime | None = None, lag: timedelta = timedelta(0)) -> dict[str, object]:
        """As Graph shows it: at `now`, through a replica `lag` behind; without `now`, the truth."""
        shown = self.live if now is None else [p for p in self.passwords if p.listed(now, lag)]
        return {
            "id": self.object_id,
            "appId": self.app_id,
            "displayName": self.display_name,
            "signInAudience": "AzureADandPersonalMicrosoftAccount" if self.personal_accounts else "AzureADMyOrg",
            "passwordCredentials": [p.to_graph() for p in shown],
        }


@dataclass
class ManagedIdentity:
    """A user-assigned managed identity: its service principal has no application; federated credentials are the
    ARM resource's (`.../userAssignedIdentities/{name}/federatedIdentityCredentials/{fic}`)."""

    id: str
    name: str
    client_id: str
    principal_id: str
    federated: list[FederatedCredential] = field(default_factory=list)

    @property
    def app_id(self) -> str:
        """Its client id, under the name Entra's token endpoint and an application share (`client_id`)."""
        return self.client_id

    @property
    def display_name(self) -> str:
        """Its service principal's displayName: the identity's name."""
        return self.name

    def to_arm(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "properties": {"clientId": self.client_id, "principalId": self.principal_id},
        }


@dataclass
class ServicePrincipal:
    object_id: str
    app_id: str
    display_name: str
    created: datetime
    graph_permissions: set[str] = field(default_factory=set)
    kind: Literal["Application", "ManagedIdentity"] = "Application"

    def to_graph(self) -> dict[str, object]:
        return {
            "id": self.object_id,
            "appId": self.app_id,
            "displayName": self.display_name,
            "servicePrincipalType": self.kind,
            "accountEnabled": True,
        }


@dataclass
class RoleDefinition:
    guid: str
    id: str
    role_name: str
    description: str
    role_type: str  # CustomRole | BuiltInRole
    actions: list[str]
    not_actions: list[str]
    assignable_scopes: list[str]
    created: datetime
    updated: datetime
    # Data-plane actions: kept and read back as written (nothing here is authorised by them).
    data_actions: list[str] = field(default_factory=list)
    not_data_actions: list[str] = field(default_factory=list)

    def allows(self, action: str) -> bool:
        def match(patterns: list[str]) -> bool:
            return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)

        return match(self.actions) and not match(self.not_actions)

    def id_in(self, subscription: str | None) -> str:
        """Its id as read through a scope of `subscription` (None: the tenant root)."""
        prefix = f"/subscriptions/{subscription}" if subscription else ""
        return f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{self.guid}"

    def visible_at(self, scope: str) -> bool:
        """Can it be read at `scope`: assignable there or above it, or (a GET) somewhere beneath it."""
        return any(s == "/" or scope_contains(s, scope) or scope_contains(scope, s) for s in self.assignable_scopes)

    def to_arm(self, subscription: str | None = None) -> dict[str, object]:
        return {
            "id": self.id_in(subscription) if subscription else self.id,
            "name": self.guid,
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {
                "roleName": self.role_name,
                "description": self.description,
                "type": self.role_type,
                "permissions": [
                    {
                        "actions": self.actions,
                        "notActions": self.not_actions,
                        "dataActions": self.data_actions,
                        "notDataActions": self.not_data_actions,
                    }
                ],
                "assignableScopes": self.assignable_scopes,
                "createdOn": _iso(self.created),
                "updatedOn": _iso(self.updated),
            },
        }


@dataclass
class RoleAssignment:
    guid: str
    scope: str
    role_definition_id: str
    principal_id: str
    principal_type: str | None
    created: datetime
    description: str = ""

    @property
    def id(self) -> str:
        return f"{self.scope}/providers/Microsoft.Authorization/roleAssignments/{self.guid}"

    def to_arm(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.guid,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "scope": self.scope,
                "roleDefinitionId": self.role_definition_id,
                "principalId": self.principal_id,
                "principalType": self.principal_type or "ServicePrincipal",
                "description": self.description or None,
                "createdOn": _iso(self.created),
            },
        }


@dataclass
class Domain:
    """An Email Communication Services domain (`Microsoft.Communication/emailServices/domains`).

    As Azure names it: an Azure-managed domain's resource is always `AzureManagedDomain` and sends as
    `<guid>.azurecomm.net`; a custom domain's resource is named after the domain it sends as.
    """

    id: str
    name: str
    managed: bool  # AzureManaged, else CustomerManaged
    sender_domain: str  # fromSenderDomain and mailFromSenderDomain
    states: dict[str, str]  # verification status by record: Domain, SPF, DKIM, DKIM2, DMARC

    @property
    def can_send(self) -> bool:
        return all(self.states.get(r) == "Verified" for r in SENDING_RECORDS)

    def to_arm(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.Communication/EmailServices/Domains",
            "location": "Global",
            "properties": {
                "provisioningState": "Succeeded",
                "dataLocation": "United States",
                "fromSenderDomain": self.sender_domain,
                "mailFromSenderDomain": self.sender_domain,
                "domainManagement": "AzureManaged" if self.managed else "CustomerManaged",
                "verificationStates": {k: {"status": v, "errorCode": ""} for k, v in self.states.items()},
                "verificationRecords": {}
                if self.managed
                else {
                    "Domain": {
                        "type": "TXT",
                        "name": self.name,
                        "value": f"ms-domain-verification={self.name}",
                        "ttl": 3600,
                    },
                },
                "userEngagementTracking": "Disabled",
            },
        }


@dataclass
class CommunicationService:
    id: str
    name: str
    linked_domains: list[str]  # domain resource ids
    immutable_id: str

    def to_arm(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.Communication/CommunicationServices",
            "location": "Global",
            "tags": {},
            "properties": {
                "provisioningState": "Succeeded",
                "hostName": f"{self.name}.unitedstates.communication.azure.com",
                "dataLocation": "United States",
                "immutableResourceId": self.immutable_id,
                "linkedDomains": self.linked_domains,
                "version": "0.2.0",
                # As azure-rest-api-specs' communicationServices/get.json example (2025-09-01) has them.
                "disableLocalAuth": False,
                "publicNetworkAccess": "Enabled",
            },
        }


@dataclass
class SmtpUsername:
    acs_id: str
    name: str
    username: str
    entra_application_id: str
    tenant_id: str

    def to_arm(self) -> dict[str, object]:
        return {
            "id": f"{self.acs_id}/smtpUsernames/{self.name}",
            "name": self.name,
            "type": "Microsoft.Communication/CommunicationServices/SmtpUsernames",
            "properties": {
                "username": self.username,
                "entraApplicationId": self.entra_application_id,
                "tenantId": self.tenant_id,
            },
        }


MAX_FEDERATED_CREDENTIALS = 20
_FIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,119}")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Cloud:
    """One tenant with its subscriptions: everything the emulators answer from."""

    tenant_id: str
    subscription_id: str  # the first subscription
    resource_groups: set[tuple[str, str]]  # (subscription id, resource group), lower case
    operator_app_id: str
    operator_secret: str
    subscriptions: set[str] = field(default_factory=set)  # every subscription id, lower case
    knobs: Knobs = field(default_factory=Knobs)
    applications: dict[str, Application] = field(default_factory=dict)  # by object id
    service_principals: dict[str, ServicePrincipal] = field(default_factory=dict)  # by object id
    managed_identities: dict[str, ManagedIdentity] = field(default_factory=dict)  # by lower client id
    role_definitions: dict[str, RoleDefinition] = field(default_factory=dict)  # by guid
    role_assignments: dict[str, RoleAssignment] = field(default_factory=dict)  # by guid
    communication_services: dict[str, CommunicationService] = field(default_factory=dict)  # by lower id
    domains: dict[str, Domain] = field(default_factory=dict)  # by lower id
    smtp_usernames: dict[tuple[str, str], SmtpUsername] = field(default_factory=dict)  # (lower acs id, name)
    # Every client secret value ever handed out (the seeded ones too), for the tests' leak audit only: Entra
    # keeps none, and the emulators check only hashes.
    issued_secrets: list[str] = field(default_factory=list)

    # -- building -------------------------------------------------------------------------------

    @classmethod
    def from_seed(cls, seed: Seed, now: datetime) -> Cloud:
        first = seed.subscription_id
        cloud = cls(
            tenant_id=seed.tenant_id,
            subscription_id=first,
            resource_groups={(first, rg.lower()) for rg in seed.resource_groups},
            operator_app_id=derive_guid("app", "acs-smtp-operator"),
            operator_secret=secrets.token_urlsafe(30),
            subscriptions={first, *(derive_guid("subscription", n) for n in seed.subscriptions)},
        )
        for guid, (name, actions) in BUILTIN_ROLES.items():
            cloud.role_definitions[guid] = RoleDefinition(
                guid=guid,
                id=f"{cloud.subscription_scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
                role_name=name,
                description=f"Built-in role {name}",
                role_type="BuiltInRole",
                actions=actions,
                not_actions=[],
                assignable_scopes=["/"],
                created=now,
                updated=now,
            )
        operator_sp = cloud._add_app("acs-smtp-operator", owners=set(), now=now)
        operator_sp.graph_permissions.update(OPERATOR_GRAPH_PERMISSIONS)
        operator_app = cloud._app_by_app_id(operator_sp.app_id)
        for fic in seed.operator_federated_identity_credentials:
            cloud.add_federated_credential(
                operator_app, fic.name, fic.issuer, fic.subject, tuple(fic.audiences), fic.description
            )
        seeded = now - timedelta(days=1)  # long propagated: the operator identity works from the first call
        cloud._add_password(
            cloud._app_by_app_id(operator_sp.app_id),
            "operator",
            cloud.operator_secret,
            seeded,
            now + timedelta(days=730),
            seeded,
        )
        grants: dict[str, set[str]] = {kind: set() for kind in OPERATOR_ARM_GRANTS}
        for acs in seed.communication_services:
            sub = seed.subscription_of(acs)
            cloud.resource_groups.add((sub, acs.resource_group.lower()))
            group = f"/subscriptions/{sub}/resourceGroups/{acs.resource_group}"
            acs_id = f"{group}/providers/Microsoft.Communication/communicationServices/{acs.name}"
            service = f"{group}/providers/Microsoft.Communication/emailServices/{acs.email_service}"
            linked = []
            for domain in acs.domains:
                managed = domain.name == AZURE_MANAGED_DOMAIN
                sender = f"{derive_guid('azure-managed-domain', service)}.azurecomm.net" if managed else domain.name
                status = "Verified" if domain.verified else "VerificationFailed"
                states = {r: status for r in ("Domain", "SPF", "DKIM", "DKIM2")}
                if not managed:
                    states["DMARC"] = "NotStarted"
                found = Domain(
                    id=f"{service}/domains/{domain.name}",
                    name=domain.name,
                    managed=managed,
                    sender_domain=sender,
                    states=states,
                )
                cloud.domains.setdefault(found.id.lower(), found)
                linked.append(found.id)
            cloud.communication_services[acs_id.lower()] = CommunicationService(
                id=acs_id, name=acs.name, linked_domains=linked, immutable_id=derive_guid("acs", acs.name)
            )
            grants["communicationService"].add(acs_id)
            grants["roleDefinitionScope"].add(group)
            if linked:
                grants["emailService"].add(service)
        for kind, scopes in grants.items():
            for scope in sorted(scopes, key=str.lower):
                cloud.grant_operator(kind, scope, operator_sp.object_id, now - timedelta(days=1))
        for app in seed.applications:
            owners = {operator_sp.object_id} if app.owned_by_operator else set()
            sp = cloud._add_app(app.name, owners=owners, now=now, with_sp=app.with_service_principal)
            created = cloud._app_by_app_id(sp.app_id)
            created.personal_accounts = app.personal_accounts
            created.passwords_allowed = app.passwords_allowed
            if app.max_password_lifetime_seconds is not None:
                created.max_password_lifetime = timedelta(seconds=app.max_password_lifetime_seconds)
            for fic in app.federated_identity_credentials:
                cloud.add_federated_credential(
                    created, fic.name, fic.issuer, fic.subject, tuple(fic.audiences), fic.description
                )
        for mi in seed.managed_identities:
            cloud.resource_groups.add((first, mi.resource_group.lower()))
            identity = ManagedIdentity(
                id=f"/subscriptions/{first}/resourceGroups/{mi.resource_group}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/{mi.name}",
                name=mi.name,
                client_id=derive_guid("managed-identity-client", mi.name),
                principal_id=derive_guid("managed-identity-principal", mi.name),
            )
            cloud.managed_identities[identity.client_id] = identity
            cloud.service_principals[identity.principal_id] = ServicePrincipal(
                object_id=identity.principal_id,
                app_id=identity.client_id,
                display_name=mi.name,
                created=now - timedelta(days=1),
                kind="ManagedIdentity",
            )
            for fic in mi.federated_identity_credentials:
                cloud.add_federated_credential(
                    identity, fic.name, fic.issuer, fic.subject, tuple(fic.audiences), fic.description
                )
        return cloud

    def grant_operator(self, kind: str, scope: str, principal_id: str, created: datetime) -> None:
        """One of the operator identity's documented grants: a custom role of those actions, assigned at `scope`."""
        guid = derive_guid("operator-role", kind)
        sub = scope.split("/")[2].lower()
        role = self.role_definitions.get(guid)
        if role is None:
            role = self.role_definitions[guid] = RoleDefinition(
                guid=guid,
                id=f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
                role_name=f"ACS SMTP Operator: {kind} (sandbox identity)",
                description="What the acs-smtp-operator identity needs there, and nothing more",
                role_type="CustomRole",
                actions=list(OPERATOR_ARM_GRANTS[kind]),
                not_actions=[],
                assignable_scopes=[],
                created=created,
                updated=created,
            )
        if scope not in role.assignable_scopes:
            role.assignable_scopes.append(scope)
        assignment = derive_guid("operator-assignment", kind, scope.lower())
        self.role_assignments[assignment] = RoleAssignment(
            guid=assignment,
            scope=scope,
            role_definition_id=f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            principal_id=principal_id,
            principal_type="ServicePrincipal",
            created=created,
        )

    def operator_role(self, kind: str) -> RoleDefinition:
        return self.role_definitions[derive_guid("operator-role", kind)]

    def _add_app(self, name: str, owners: set[str], now: datetime, with_sp: bool = True) -> ServicePrincipal:
        app = Application(
            object_id=derive_guid("app-object", name),
            app_id=derive_guid("app", name),
            display_name=name,
            owners=owners,
        )
        self.applications[app.object_id] = app
        sp = ServicePrincipal(
            object_id=derive_guid("service-principal", name),
            app_id=app.app_id,
            display_name=name,
            created=now - timedelta(days=1),
        )
        if with_sp:
            self.service_principals[sp.object_id] = sp
        return sp

    # -- lookups --------------------------------------------------------------------------------

    @property
    def subscription_scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    def _app_by_app_id(self, app_id: str) -> Application:
        found = self.app_by_app_id(app_id)
        assert found is not None
        return found

    def app_by_app_id(self, app_id: str) -> Application | None:
        return next((a for a in self.applications.values() if a.app_id.lower() == app_id.lower()), None)

    def managed_identity(self, client_id: str) -> ManagedIdentity | None:
        return self.managed_identities.get(client_id.lower())

    def signs_in_as(self, client_id: str) -> Application | ManagedIdentity | None:
        """What a client id at the token endpoint names: an application or a user-assigned managed identity."""
        return self.app_by_app_id(client_id) or self.managed_identity(client_id)

    @property
    def federation_holders(self) -> list[Application | ManagedIdentity]:
        """Everything that may hold federated identity credentials."""
        return [*self.applications.values(), *self.managed_identities.values()]

    def sp_by_app_id(self, app_id: str) -> ServicePrincipal | None:
        return next((s for s in self.service_principals.values() if s.app_id.lower() == app_id.lower()), None)

    def acs(self, resource_id: str) -> CommunicationService | None:
        return self.communication_services.get(resource_id.rstrip("/").lower())

    def domain(self, resource_id: str) -> Domain | None:
        return self.domains.get(resource_id.rstrip("/").lower())

    def sender_domains(self, acs: CommunicationService) -> list[Domain]:
        """The domains linked to the resource, in order."""
        return [d for d in (self.domain(i) for i in acs.linked_domains) if d is not None]

    def scope_exists(self, scope: str) -> bool:
        """Whether an ARM scope names a subscription, resource group, ACS resource, email service or domain."""
        parts = scope.strip("/").split("/")
        if len(parts) < 2 or parts[0].lower() != "subscriptions" or parts[1].lower() not in self.subscriptions:
            return False
        if len(parts) == 2:
            return True
        if len(parts) >= 4 and parts[2].lower() == "resourcegroups":
            if (parts[1].lower(), parts[3].lower()) not in self.resource_groups:
                return False
            if len(parts) == 4:
                return True
        if self.acs(scope) is not None or self.domain(scope) is not None:
            return True
        return any(d.lower().startswith(scope.rstrip("/").lower() + "/domains/") for d in self.domains)

    # -- rules ----------------------------------------------------------------------------------

    def is_authorized(self, principal_id: str, action: str, scope: str, now: datetime) -> bool:
        """Does the principal hold, at or above `scope`, an effective role that allows `action`?"""
        delay = timedelta(seconds=self.knobs.assignment_propagation_seconds)
        for assignment in self.role_assignments.values():
            if assignment.principal_id != principal_id or not scope_contains(assignment.scope, scope):
                continue
            if assignment.created + delay > now:
                continue
            role = self.role_definitions.get(assignment.role_definition_id.rsplit("/", 1)[-1])
            if role is not None and role.allows(action):
                return True
        return False

    def can_send(self, principal_id: str, acs: CommunicationService, now: datetime) -> bool:
        """Does the principal hold, on the resource, every action ACS checks at SMTP login?"""
        wanted = LEGACY_SMTP_SEND_ACTIONS if self.knobs.smtp_role_actions == "Legacy" else SMTP_SEND_ACTIONS
        return all(self.is_authorized(principal_id, a, acs.id, now) for a in wanted)

    def remove_password(self, app: Application, key_id: str, now: datetime) -> bool:
        """Remove a client secret as a replica `lag` behind sees it: False when it sees no such key."""
        lag = timedelta(seconds=self.knobs.graph_lag_seconds)
        found = next((p for p in app.live if p.key_id.lower() == key_id.lower() and p.listed(now, lag)), None)
        if found is None:
            return False
        found.removed = now
        app.passwords = [p for p in app.passwords if p.removed is None or p.removed + lag > now]
        return True

    def add_federated_credential(
        self,
        app: Application | ManagedIdentity,
        name: str,
        issuer: str,
        subject: str,
        audiences: tuple[str, ...],
        description: str = "",
    ) -> FederatedCredential:
        """Add a federated identity credential as Graph's POST .../federatedIdentityCredentials would.

        Raises ValueError, worded as Graph's refusal, for what Graph refuses: a name that is not unique or URL
        friendly, an issuer that is not an https URL, a repeated issuer and subject, more than the 20 an
        application may have, any field over its documented length (docs/sandbox.md cites the limits).
        """
        if not _FIC_NAME.fullmatch(name):
            raise ValueError(f"name {name!r}: 3 to 120 characters, letters, digits, '-' and '_', starting alphanumeric")
        if any(f.name.lower() == name.lower() for f in app.federated):
            raise ValueError(f"FederatedIdentityCredential with name {name} already exists.")
        if len(app.federated) >= MAX_FEDERATED_CREDENTIALS:
            raise ValueError(f"an application may have at most {MAX_FEDERATED_CREDENTIALS} federated credentials")
        if not issuer.startswith("https://") or len(issuer) > 600:
            raise ValueError(f"issuer {issuer!r}: an https URL of at most 600 characters")
        if not subject or len(subject) > 600:
            raise ValueError("subject: 1 to 600 characters")
        if len(audiences) != 1 or not audiences[0] or len(audiences[0]) > 600:
            raise ValueError("audiences: exactly one value of at most 600 characters")
        if any(f.issuer == issuer and f.subject == subject for f in app.federated):
            raise ValueError("the application already has a federated credential with this issuer and subject")
        credential = FederatedCredential(
            id=str(uuid.uuid4()),
            name=name,
            issuer=issuer,
            subject=subject,
            audiences=audiences,
            description=description,
        )
        app.federated.append(credential)
        return credential

    def check_secret(self, app_id: str, secret: str, now: datetime) -> str | None:
        """None if `secret` is a current client secret of the application, else the AADSTS code."""
        app = self.app_by_app_id(app_id)
        if app is None:
            return "700016"
        digest = hash_secret(secret)
        propagation = timedelta(seconds=self.knobs.secret_propagation_seconds)
        for password in app.live:
            if not secrets.compare_digest(password.secret_hash, digest):
                continue
            if password.end <= now:
                return "7000222"
            if password.start > now or password.created + propagation > now:
                return "7000215"
            return None
        return "7000215"

    def add_password(
        self, app: Application, display_name: str, start: datetime | None, end: datetime | None, now: datetime
    ) -> tuple[PasswordCredential, str]:
        """Create a client secret; return it with its value (stored as a hash, and in the audit list only)."""
        value = f"{secrets.token_urlsafe(3)[:3]}8Q~{secrets.token_urlsafe(27)}"
        start = start or now
        end = end or start + timedelta(days=730)
        return self._add_password(app, display_name, value, start, end, created=now), value

    def _add_password(
        self, app: Application, display_name: str, value: str, start: datetime, end: datetime, created: datetime
    ) -> PasswordCredential:
        self.issued_secrets.append(value)
        password = PasswordCredential(
            key_id=str(uuid.uuid4()),
            display_name=display_name,
            hint=value[:3],
            secret_hash=hash_secret(value),
            start=start,
            end=end,
            created=created,
        )
        app.passwords.append(password)
        return password

    def resolve_smtp_username(self, username: str) -> tuple[CommunicationService, str, str] | None:
        """(ACS resource, application id, tenant id) named by an SMTP username, or None."""
        for entry in self.smtp_usernames.values():
            if entry.username.lower() == username.lower():
                acs = self.acs(entry.acs_id)
                return (acs, entry.entra_application_id, entry.tenant_id) if acs else None
        for separator in ("|", "."):
            parts = username.rsplit(separator, 2)
            if len(parts) == 3:
                name, app_id, tenant_id = parts
                acs = next((a for a in self.communication_services.values() if a.name.lower() == name.lower()), None)
                if acs is not None:
                    return acs, app_id, tenant_id
        return None
