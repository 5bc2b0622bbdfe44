"""The emulator the examples are replayed against: an in-process sandbox whose Azure endpoints are called over
https with tokens its own Entra endpoint would issue."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from acs_smtp_operator.sandbox import Sandbox, Seed, run_sandbox
from acs_smtp_operator.sandbox.azure.context import ARM_AUDIENCE, GRAPH_AUDIENCE
from acs_smtp_operator.sandbox.azure.state import BUILTIN_ROLES, RoleAssignment
from acs_smtp_operator.sandbox.azure.tokens import Claims
from acs_smtp_operator.sandbox.seed import derive_guid

OWNER = next(guid for guid, (name, _) in BUILTIN_ROLES.items() if name == "Owner")


@dataclass
class Answer:
    status: int
    text: str  # the body as sent: empty when there is none (a JSON `null` is a body)

    @property
    def body(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass
class Emulator:
    """The sandbox's ARM and Graph, called as the operator's identity (Owner of the subscription, so that every
    example's scope, a subscription's included, can be written)."""

    sandbox: Sandbox
    http: aiohttp.ClientSession
    arm_token: str
    graph_token: str

    @property
    def base(self) -> str:
        return self.sandbox.ctx.base_url

    async def call(self, api: str, method: str, path_and_query: str, body: Any = None) -> Answer:
        token = self.arm_token if api == "arm" else self.graph_token
        async with self.http.request(
            method, self.base + path_and_query, json=body, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return Answer(response.status, await response.text())


@pytest.fixture(scope="session")
async def emulator(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Emulator]:
    async with run_sandbox(tmp_path_factory.mktemp("conformance"), Seed()) as sandbox:
        ctx, cloud = sandbox.ctx, sandbox.ctx.cloud
        cloud.knobs.graph_lag_seconds = 0
        operator = cloud.sp_by_app_id(sandbox.env["AZURE_CLIENT_ID"])
        assert operator is not None
        now = datetime.now(UTC)
        guid = derive_guid("conformance-owner", operator.object_id)
        cloud.role_assignments[guid] = RoleAssignment(
            guid=guid,
            scope=cloud.subscription_scope,
            role_definition_id=f"{cloud.subscription_scope}/providers/Microsoft.Authorization/roleDefinitions/{OWNER}",
            principal_id=operator.object_id,
            principal_type="ServicePrincipal",
            created=now - timedelta(days=1),
        )

        def token(audience: str, roles: tuple[str, ...]) -> str:
            claims = Claims(operator.object_id, operator.app_id, cloud.tenant_id, audience, roles)
            return ctx.issuer.issue(claims, ctx.now())

        trust = ssl.create_default_context(cafile=sandbox.manifest["caBundle"])
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as http:
            yield Emulator(
                sandbox,
                http,
                token(ARM_AUDIENCE, ()),
                token(GRAPH_AUDIENCE, tuple(sorted(operator.graph_permissions))),
            )
