"""The sandbox's seed: which tenant, subscription, ACS resources and applications exist.

Identifiers are derived from names (uuid5), so the same seed always yields the
same GUIDs and the repository's examples can name them.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AZURE_MANAGED_DOMAIN",
    "OPERATOR_ARM_ACTIONS",
    "OPERATOR_ARM_GRANTS",
    "OPERATOR_GRAPH_PERMISSIONS",
    "TOKEN_EXCHANGE_AUDIENCE",
    "AppSeed",
    "CommunicationServiceSeed",
    "DomainSeed",
    "FederatedCredentialSeed",
    "ManagedIdentitySeed",
    "Seed",
    "derive_guid",
    "load_seed",
]

_NAMESPACE = uuid.UUID("6f1c3b1e-5a0e-4d5b-9a43-0c0ffee0ac50")

# What the operator's own identity may do in ARM, and where: exactly what docs/install.md asks for, at the scopes
# it names, and no more. Keys: the scope each group is granted at.
OPERATOR_ARM_GRANTS: dict[str, tuple[str, ...]] = {
    "communicationService": (  # each ACS resource
        "Microsoft.Communication/CommunicationServices/read",
        "Microsoft.Communication/CommunicationServices/SmtpUsernames/read",
        "Microsoft.Communication/CommunicationServices/SmtpUsernames/write",
        "Microsoft.Communication/CommunicationServices/SmtpUsernames/delete",
        "Microsoft.Authorization/roleAssignments/read",
        "Microsoft.Authorization/roleAssignments/write",
        "Microsoft.Authorization/roleAssignments/delete",
    ),
    "emailService": ("Microsoft.Communication/EmailServices/Domains/read",),  # each linked domain's email service
    "roleDefinitionScope": (  # the policy's role.definitionScope around each ACS resource (resource group)
        "Microsoft.Authorization/roleDefinitions/read",
        "Microsoft.Authorization/roleDefinitions/write",
        "Microsoft.Authorization/roleDefinitions/delete",
    ),
}
OPERATOR_ARM_ACTIONS: tuple[str, ...] = tuple(a for group in OPERATOR_ARM_GRANTS.values() for a in group)
# ...and in Microsoft Graph: manage only the applications it owns.
OPERATOR_GRAPH_PERMISSIONS: tuple[str, ...] = ("Application.ReadWrite.OwnedBy",)
# The audience Entra recommends for federated identity credentials (and the AKS webhook requests).
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
# The name Azure gives every Azure-managed domain resource.
AZURE_MANAGED_DOMAIN = "AzureManagedDomain"


def derive_guid(*parts: str) -> str:
    """A stable GUID for a named sandbox object."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DomainSeed(_Strict):
    """A linked domain: `AzureManagedDomain` (sends as `<guid>.azurecomm.net`) or a custom domain's name."""

    name: str = Field(min_length=1, max_length=253)
    verified: bool = True  # a custom domain whose DNS records are not (or no longer) verified cannot send


class CommunicationServiceSeed(_Strict):
    name: str = Field(pattern=r"^[-\w]+$", min_length=1, max_length=63)
    resource_group: str = Field(alias="resourceGroup", default="rg-mail")
    linked_domains: list[str | DomainSeed] = Field(alias="linkedDomains", default_factory=list)
    email_service: str = Field(alias="emailService", default="email-sandbox")
    subscription: str | None = None  # a subscription's name (default: the first)

    @property
    def domains(self) -> list[DomainSeed]:
        return [d if isinstance(d, DomainSeed) else DomainSeed(name=d) for d in self.linked_domains]


class FederatedCredentialSeed(_Strict):
    """A federated identity credential: tokens of `issuer` about `subject` for `audiences` sign the app in."""

    name: str
    issuer: str
    subject: str
    audiences: list[str] = Field(default_factory=lambda: [TOKEN_EXCHANGE_AUDIENCE])
    description: str = ""


class AppSeed(_Strict):
    name: str
    owned_by_operator: bool = Field(alias="ownedByOperator", default=True)
    personal_accounts: bool = Field(alias="personalAccounts", default=False)
    # App management policy knobs (None: no restriction).
    max_password_lifetime_seconds: int | None = Field(alias="maxPasswordLifetimeSeconds", default=None)
    passwords_allowed: bool = Field(alias="passwordsAllowed", default=True)
    with_service_principal: bool = Field(alias="withServicePrincipal", default=True)
    federated_identity_credentials: list[FederatedCredentialSeed] = Field(
        alias="federatedIdentityCredentials", default_factory=list
    )


class ManagedIdentitySeed(_Strict):
    """A user-assigned managed identity: a service principal without an application, signed in to from a cluster
    through its federated identity credentials (no secret, no IMDS here)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][-\w]{2,127}$")
    resource_group: str = Field(alias="resourceGroup", default="rg-mail")
    federated_identity_credentials: list[FederatedCredentialSeed] = Field(
        alias="federatedIdentityCredentials", default_factory=list
    )


class Seed(_Strict):
    tenant: str = "sandbox-tenant"
    subscription: str = "sandbox-subscription"
    subscriptions: list[str] = Field(default_factory=list)  # further subscriptions of the tenant (names)
    # The operator's own application's federated credentials (workload identity); more can be added at run time
    # through the control API (POST /_sandbox/federated-credentials).
    operator_federated_identity_credentials: list[FederatedCredentialSeed] = Field(
        alias="operatorFederatedIdentityCredentials", default_factory=list
    )
    resource_groups: list[str] = Field(alias="resourceGroups", default_factory=lambda: ["rg-mail"])
    communication_services: list[CommunicationServiceSeed] = Field(
        alias="communicationServices",
        default_factory=lambda: [
            CommunicationServiceSeed(
                name="shop-mailer-acs", linkedDomains=[AZURE_MANAGED_DOMAIN, "mail.shop.example.com"]
            ),
            CommunicationServiceSeed(name="no-domain-acs", linkedDomains=[]),
            CommunicationServiceSeed(
                name="unverified-acs",
                linkedDomains=[DomainSeed(name="pending.shop.example.com", verified=False)],
                emailService="email-pending",
            ),
        ],
    )
    managed_identities: list[ManagedIdentitySeed] = Field(
        alias="managedIdentities", default_factory=lambda: [ManagedIdentitySeed(name="mailer-identity")]
    )
    applications: list[AppSeed] = Field(
        default_factory=lambda: [
            AppSeed(name="shop-mailer"),
            AppSeed(name="billing-mailer"),
            AppSeed(name="not-owned-app", ownedByOperator=False),
            AppSeed(name="restricted-mailer", maxPasswordLifetimeSeconds=30 * 86400),
            AppSeed(name="personal-mailer", personalAccounts=True),
            AppSeed(name="probe-mailer"),  # for scenarios that may leave Azure objects behind (RBAC probes)
        ],
    )

    @property
    def tenant_id(self) -> str:
        return derive_guid("tenant", self.tenant)

    @property
    def subscription_id(self) -> str:
        return derive_guid("subscription", self.subscription)

    def subscription_of(self, acs: CommunicationServiceSeed) -> str:
        """The id of the subscription an ACS resource lives in."""
        name = acs.subscription or self.subscription
        if name != self.subscription and name not in self.subscriptions:
            raise ValueError(f"{acs.name}: subscription {name!r} is not in the seed")
        return derive_guid("subscription", name)


def load_seed(path: Path | None) -> Seed:
    """The default seed, or the one in a YAML file."""
    if path is None:
        return Seed()
    data = yaml.safe_load(path.read_text()) or {}
    return Seed.model_validate(data)
