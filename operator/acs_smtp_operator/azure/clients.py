"""Build the Azure SDK clients from `Settings`: endpoints, audiences and the trusted CA reach every client."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.pipeline.transport import AioHttpTransport
from azure.identity.aio import ClientSecretCredential, DefaultAzureCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.communication.aio import CommunicationServiceManagementClient
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph_core import GraphClientFactory

from acs_smtp_operator.azure.federated import NoClientId, WorkloadIdentity
from acs_smtp_operator.azure.pacing import ArmPacing, Budgets, GraphPacing
from acs_smtp_operator.azure.whoami import OperatorGraph
from acs_smtp_operator.settings import Settings

__all__ = [
    "ARM_RETRIES",
    "AzureClients",
    "ResponseHook",
    "client_secret_credential",
    "operator_credential",
    "warm_up",
]

# The SDK retries 429 (after Retry-After) and 5xx a few times itself; beyond that the operator's own
# backoff takes over, so that one stubborn call never holds a reconciliation for minutes.
ARM_RETRIES = 3

# Told of every Azure response: (api, method, url path, status code). Feeds the metrics.
ResponseHook = Callable[[str, str, str, int], None]


def _core_hook(api: str, hook: ResponseHook | None) -> dict[str, Any]:
    """azure-core's per-response callback, for ARM clients and azure-identity credentials."""
    if hook is None:
        return {}

    def on_response(response: Any) -> None:
        request = response.http_request
        hook(api, request.method, urlsplit(request.url).path, response.http_response.status_code)

    return {"raw_response_hook": on_response}


def client_secret_credential(
    settings: Settings, tenant_id: str, client_id: str, secret: str, hook: ResponseHook | None = None
) -> ClientSecretCredential:
    """A credential for one application's client secret (the operator's own, or one it verifies)."""
    return ClientSecretCredential(
        tenant_id,
        client_id,
        secret,
        authority=settings.authority_host,
        connection_verify=settings.connection_verify,
        **_core_hook("entra", hook),
    )


# The variables with which DefaultAzureCredential's first credential, EnvironmentCredential, applies (azure-identity
# `_constants.EnvironmentVariables.CLIENT_SECRET_VARS` and `CERT_VARS`): then it wins over workload identity. Set
# means non-empty here (azure-identity takes an empty secret as set, and then fails on it).
_ENVIRONMENT_CREDENTIALS = (
    ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"),
    ("AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_TENANT_ID"),
)


# AZURE_TOKEN_CREDENTIALS values under which DefaultAzureCredential would use workload identity here.
_WORKLOAD_CHOICES = ("", "prod", "workloadidentitycredential")


def operator_credential(
    settings: Settings, hook: ResponseHook | None = None, environ: Mapping[str, str] = os.environ
) -> AsyncTokenCredential:
    """The operator's identity, as DefaultAzureCredential picks it: environment, workload identity, managed identity.

    Workload identity (AZURE_FEDERATED_TOKEN_FILE, when the environment credential does not apply and
    AZURE_TOKEN_CREDENTIALS does not choose another credential) is `WorkloadIdentity`: the token file read afresh for
    each exchange, and refusals that name the token's claims. Developer-machine credentials (Azure CLI,
    PowerShell, azd, VS Code, broker) are left out: in a cluster they are never the intended identity, and
    probing them slows every failure down.
    """
    token_file, client_id = environ.get("AZURE_FEDERATED_TOKEN_FILE"), environ.get("AZURE_CLIENT_ID")
    environment = any(all(environ.get(name) for name in names) for names in _ENVIRONMENT_CREDENTIALS)
    chosen = environ.get("AZURE_TOKEN_CREDENTIALS", "").strip().lower()  # azure-identity's own choice of chain
    if token_file and not environment and chosen in _WORKLOAD_CHOICES and settings.tenant_id:
        if not client_id:
            return NoClientId(Path(token_file))
        return WorkloadIdentity(
            settings.tenant_id,
            client_id,
            Path(token_file),
            authority=settings.authority_host,
            connection_verify=settings.connection_verify,
            **_core_hook("entra", hook),
        )
    credential: AsyncTokenCredential = DefaultAzureCredential(
        authority=settings.authority_host,
        connection_verify=settings.connection_verify,
        exclude_cli_credential=True,
        exclude_powershell_credential=True,
        exclude_developer_cli_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_shared_token_cache_credential=True,
        **_core_hook("entra", hook),
    )
    return credential


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, unless NO_PROXY covers its host): httpx ignores
    the environment once it is given a transport of ours."""
    host = urlsplit(url).hostname or ""
    if not host or urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get("https")


def warm_up() -> None:
    """Import what the first Graph answers need, ahead of the first pass (run in a thread at start-up).

    msgraph-sdk imports the models an application's fields refer to when the first one is parsed: over a
    second, which the first credential's first pass would otherwise wait for.
    """
    from msgraph.generated.models.application import Application
    from msgraph.generated.models.password_credential import PasswordCredential
    from msgraph.generated.models.service_principal import ServicePrincipal

    for model in (Application(), ServicePrincipal(), PasswordCredential()):
        model.get_field_deserializers()


class AzureClients:
    """ARM clients per subscription (its id is part of their URLs) and one Graph client, sharing a credential."""

    def __init__(
        self,
        settings: Settings,
        credential: AsyncTokenCredential,
        hook: ResponseHook | None = None,
        paced: Callable[[str, float], None] | None = None,
    ) -> None:
        """`hook`: told of every response; `paced`: of every wait for the operator's own budget (api, seconds)."""
        self._settings, self._credential, self._hook = settings, credential, hook
        # Paced below Azure's throttling, at most this many requests in flight per API (never an unbounded
        # fan-out into one connection pool).
        self.budgets = Budgets(concurrency=settings.max_concurrent_requests, on_wait=paced)
        # One connection pool for every ARM client, with one TLS context: azure-core given a CA bundle path
        # makes a new SSL context per request, and aiohttp then opens a new connection for each (a handshake
        # and a 256 KiB buffer per request, kept until the pool closes it).
        self._arm_session: aiohttp.ClientSession | None = None
        self._authorization: dict[str, AuthorizationManagementClient] = {}
        self._communication: dict[str, CommunicationServiceManagementClient] = {}
        hooks: dict[str, list[Callable[..., Any]]] = {}
        if hook is not None:

            async def on_response(response: httpx.Response) -> None:
                hook("graph", response.request.method, response.request.url.path, response.status_code)

            hooks["response"] = [on_response]
        limits = httpx.Limits(max_connections=settings.max_concurrent_requests)
        inner = httpx.AsyncHTTPTransport(
            verify=settings.ssl_context(), limits=limits, proxy=_proxy_for(settings.graph_endpoint)
        )
        transport = GraphPacing(inner, self.budgets)
        self._http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(transport=transport, timeout=30.0, event_hooks=hooks)
        )
        graph_host = urlsplit(settings.graph_endpoint).hostname or ""
        auth = AzureIdentityAuthenticationProvider(
            credential, scopes=[settings.graph_audience], allowed_hosts=[graph_host]
        )
        adapter = GraphRequestAdapter(auth, client=self._http)
        adapter.base_url = settings.graph_endpoint.rstrip("/")
        self.graph = OperatorGraph(adapter, credential, settings.graph_audience)

    def _arm_transport(self) -> AioHttpTransport:
        if self._arm_session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._settings.ssl_context(), limit=self._settings.max_concurrent_requests
            )
            # trust_env: HTTPS_PROXY / NO_PROXY as azure-core's own session honours them.
            self._arm_session = aiohttp.ClientSession(connector=connector, trust_env=True)
        return AioHttpTransport(session=self._arm_session, session_owner=False)

    def _arm_options(self) -> dict[str, Any]:
        return {
            "base_url": self._settings.arm_endpoint,
            "credential_scopes": [self._settings.arm_audience],
            "transport": self._arm_transport(),
            "retry_total": ARM_RETRIES,
            "per_retry_policies": [ArmPacing(self.budgets)],
            **_core_hook("arm", self._hook),
        }

    def authorization(self, subscription_id: str) -> AuthorizationManagementClient:
        key = subscription_id.lower()
        if key not in self._authorization:
            self._authorization[key] = AuthorizationManagementClient(
                self._credential, subscription_id, **self._arm_options()
            )
        return self._authorization[key]

    def communication(self, subscription_id: str) -> CommunicationServiceManagementClient:
        key = subscription_id.lower()
        if key not in self._communication:
            self._communication[key] = CommunicationServiceManagementClient(
                self._credential, subscription_id, **self._arm_options()
            )
        return self._communication[key]

    async def close(self) -> None:
        for authorization in self._authorization.values():
            await authorization.close()  # type: ignore[no-untyped-call]
        for communication in self._communication.values():
            await communication.close()
        await self._http.aclose()
        if self._arm_session is not None:
            await self._arm_session.close()
