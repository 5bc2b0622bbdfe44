"""The Entra application, its service principal and client secrets (Microsoft Graph, msgraph-sdk)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.applications.item.remove_password.remove_password_post_request_body import (
    RemovePasswordPostRequestBody,
)
from msgraph.generated.applications_with_app_id.applications_with_app_id_request_builder import (
    ApplicationsWithAppIdRequestBuilder,
)
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.service_principals_with_app_id.service_principals_with_app_id_request_builder import (
    ServicePrincipalsWithAppIdRequestBuilder,
)
from msgraph.graph_service_client import GraphServiceClient
from pydantic import SecretStr

from acs_smtp_operator.azure.errors import AZURE_ERRORS, denied_by_graph, owner_advice, translate
from acs_smtp_operator.azure.whoami import OperatorGraph, may_write
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.model import Reason
from acs_smtp_operator.observed import Application, KeyInfo

__all__ = [
    "NewPassword",
    "add_password",
    "check_owner",
    "find_application",
    "find_service_principal",
    "remove_password",
]


@dataclass(frozen=True)
class NewPassword:
    key_id: str
    end: datetime
    value: SecretStr  # never printed: repr shows '**********'


# msgraph-sdk's alternate-key builders (`applications_with_app_id`, `service_principals_with_app_id`) write
# the key into the client's one shared path-parameter dict and keep a reference to it, and the URL is only
# expanded after the token is awaited: concurrent lookups then read each other's appId. Each lookup here
# builds its request on a private copy of the parameters.
def _by_app_id(graph: GraphServiceClient, client_id: str) -> ApplicationsWithAppIdRequestBuilder:
    return ApplicationsWithAppIdRequestBuilder(graph.request_adapter, dict(graph.path_parameters), client_id)


def _principal_by_app_id(graph: GraphServiceClient, client_id: str) -> ServicePrincipalsWithAppIdRequestBuilder:
    return ServicePrincipalsWithAppIdRequestBuilder(graph.request_adapter, dict(graph.path_parameters), client_id)


async def _failed(
    graph: GraphServiceClient, exc: BaseException, what: str, application: str, not_found: Reason = Reason.AZURE_ERROR
) -> Failure:
    """`translate`, and when Graph refused the application: who the operator is, for the command that grants it."""
    caller = await graph.caller() if isinstance(graph, OperatorGraph) and denied_by_graph(exc) else None
    return translate(exc, what, not_found, application=application, caller=caller)


async def find_application(graph: GraphServiceClient, client_id: str) -> Application:
    try:
        app = await _by_app_id(graph, client_id).get()
    except AZURE_ERRORS as exc:
        raise await _failed(
            graph, exc, f"reading application {client_id}", client_id, Reason.APPLICATION_NOT_FOUND
        ) from None
    if app is None or app.id is None:
        raise Failure(Reason.APPLICATION_NOT_FOUND, f"application {client_id} was not found")
    keys = tuple(
        KeyInfo(key_id=str(p.key_id), display_name=p.display_name or "", end=p.end_date_time, start=p.start_date_time)
        for p in app.password_credentials or []
        if p.key_id is not None
    )
    return Application(object_id=app.id, client_id=client_id, keys=keys)


_OWNER_PAGES = 10


async def check_owner(graph: GraphServiceClient, application: Application) -> bool:
    """Before any write: does the operator own the application (or may it write every one)? One read of the
    application's owners (`GET /applications/{id}/owners`, whose least privileged application permission is
    Application.ReadWrite.OwnedBy: Graph's "List owners" page). A `Failure` naming the missing owner, and the
    command that adds it, when it does not; True when it does, or when its identity is unknown (then the first
    write tells)."""
    caller = await graph.caller() if isinstance(graph, OperatorGraph) else None
    if caller is None or caller.object_id is None:
        return True
    verdict = may_write(caller, frozenset())
    if verdict:
        return True  # it may write every application: no read needed
    what = f"reading the owners of application {application.client_id}"
    owners: set[str] = set()
    builder = graph.applications.by_application_id(application.object_id).owners
    try:
        found = await builder.get()
        for _ in range(_OWNER_PAGES):  # an application has a handful of owners: a page or two at most
            owners |= {str(o.id).lower() for o in (found.value if found is not None else None) or [] if o.id}
            if found is None or not found.odata_next_link:
                break
            found = await builder.with_url(found.odata_next_link).get()
    except AZURE_ERRORS as exc:
        raise await _failed(graph, exc, what, application.client_id, Reason.APPLICATION_NOT_FOUND) from None
    if may_write(caller, frozenset(owners)):
        return True
    advice = owner_advice(application.client_id, caller)
    raise Failure(
        Reason.FORBIDDEN,
        f"{advice[:1].upper()}{advice[1:]}. Nothing was written in Azure (no role assignment, "
        "smtpUsername entry or client secret): Application.ReadWrite.OwnedBy writes only applications it owns",
    )


async def find_service_principal(graph: GraphServiceClient, client_id: str) -> str:
    try:
        sp = await _principal_by_app_id(graph, client_id).get()
    except AZURE_ERRORS as exc:
        raise await _failed(
            graph, exc, f"reading the service principal of {client_id}", client_id, Reason.SERVICE_PRINCIPAL_NOT_FOUND
        ) from None
    if sp is None or sp.id is None:
        raise Failure(
            Reason.SERVICE_PRINCIPAL_NOT_FOUND,
            f"application {client_id} has no service principal in this tenant",
        )
    return sp.id


async def add_password(graph: GraphServiceClient, object_id: str, display_name: str, end: datetime) -> NewPassword:
    body = AddPasswordPostRequestBody(
        password_credential=PasswordCredential(display_name=display_name, end_date_time=end)
    )
    try:
        made = await graph.applications.by_application_id(object_id).add_password.post(body)
    except AZURE_ERRORS as exc:
        raise await _failed(
            graph,
            exc,
            f"adding a client secret to application object {object_id}",
            object_id,
            Reason.APPLICATION_NOT_FOUND,
        ) from None
    if made is None or made.key_id is None or not made.secret_text:
        raise Failure(Reason.AZURE_ERROR, "addPassword returned no secret")
    return NewPassword(
        key_id=str(made.key_id), end=made.end_date_time or end.astimezone(UTC), value=SecretStr(made.secret_text)
    )


def _not_found(failure: Failure) -> bool:
    return failure.status == 404 or (failure.status == 400 and "No password credential found" in failure.message)


async def remove_password(graph: GraphServiceClient, object_id: str, key_id: str, fresh_for: float = 0.0) -> None:
    """Remove a client secret; one that is already gone counts as removed.

    Unless it was added moments ago (`fresh_for` > 0): Graph is eventually consistent, and a replica that has
    not seen the add yet answers "not found" while the key exists. Its removal is then tried again for up to
    `fresh_for` seconds, and a key still "not found" after that is reported, not counted as removed.
    """
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + fresh_for, 0.5
    try:
        body = RemovePasswordPostRequestBody(key_id=uuid.UUID(key_id))
    except ValueError:
        raise Failure(Reason.AZURE_ERROR, f"client secret id {key_id!r} is not a GUID: nothing was removed") from None
    while True:
        try:
            await graph.applications.by_application_id(object_id).remove_password.post(body)
            return
        except AZURE_ERRORS as exc:
            failure = await _failed(graph, exc, f"removing client secret {key_id}", object_id)
        if not _not_found(failure):
            raise failure from None
        if fresh_for <= 0:
            return
        if loop.time() + pause > deadline:
            raise Failure(
                Reason.AZURE_ERROR,
                f"removing client secret {key_id}: Graph still answers 'not found' {fresh_for:.0f} s after adding "
                "it; it is removed as an orphan of ours once Graph lists it",
                status=failure.status,
                code=failure.code,
            )
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5.0)
