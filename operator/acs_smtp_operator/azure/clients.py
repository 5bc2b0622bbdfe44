"""Build the Azure SDK clients from `Settings`: endpoints, audiences and the trusted CA reach every client."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import ClientSecretCredential, DefaultAzureCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.communication.aio import CommunicationServiceManagementClient
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory

from acs_smtp_operator.settings import Settings

__all__ = ["AzureClients", "client_secret_credential", "operator_credential"]


def client_secret_credential(settings: Settings, tenant_id: str, client_id: str, secret: str) -> ClientSecretCredential:
    """A credential for one application's client secret (the operator's own, or one it verifies)."""
    return ClientSecretCredential(
        tenant_id, client_id, secret, authority=settings.authority_host, connection_verify=settings.connection_verify
    )


def operator_credential(settings: Settings) -> AsyncTokenCredential:
    """The operator's identity: a client secret from the environment, else DefaultAzureCredential."""
    tenant, client, secret = (os.environ.get(k) for k in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"))
    if tenant and client and secret:
        return client_secret_credential(settings, tenant, client, secret)
    credential: AsyncTokenCredential = DefaultAzureCredential(
        authority=settings.authority_host, connection_verify=settings.connection_verify
    )
    return credential


@dataclass
class AzureClients:
    authorization: AuthorizationManagementClient
    communication: CommunicationServiceManagementClient
    graph: GraphServiceClient
    _http: httpx.AsyncClient

    @classmethod
    def build(cls, settings: Settings, credential: AsyncTokenCredential, subscription_id: str) -> AzureClients:
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=settings.ssl_context(), timeout=30.0)
        )
        graph_host = urlsplit(settings.graph_endpoint).hostname or ""
        auth = AzureIdentityAuthenticationProvider(
            credential, scopes=[settings.graph_audience], allowed_hosts=[graph_host]
        )
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = settings.graph_endpoint.rstrip("/")
        return cls(
            authorization=AuthorizationManagementClient(
                credential,
                subscription_id,
                base_url=settings.arm_endpoint,
                credential_scopes=[settings.arm_audience],
                connection_verify=settings.connection_verify,
            ),
            communication=CommunicationServiceManagementClient(
                credential,
                subscription_id,
                base_url=settings.arm_endpoint,
                credential_scopes=[settings.arm_audience],
                connection_verify=settings.connection_verify,
            ),
            graph=GraphServiceClient(request_adapter=adapter),
            _http=http,
        )

    async def close(self) -> None:
        await self.authorization.close()  # type: ignore[no-untyped-call]
        await self.communication.close()
        await self._http.aclose()
