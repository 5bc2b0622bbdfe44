"""What an administrator must grant when Azure refuses the operator's identity: the owner to add to an
application (Graph), the role assignment ARM's `AuthorizationFailed` names, each as the command that does it."""

from __future__ import annotations

import re
import shlex

from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from acs_smtp_operator.azure.whoami import Caller

__all__ = ["GRAPH_DENIED", "arm_denied_advice", "denied_by_graph", "owner_advice"]

GRAPH_DENIED = "Authorization_RequestDenied"
_WRITES_APPLICATIONS = {"Application.ReadWrite.OwnedBy", "Application.ReadWrite.All", "Directory.ReadWrite.All"}


def denied_by_graph(exc: BaseException) -> bool:
    """Graph refused the operator's identity this application (then `owner_advice` says what to grant)."""
    return (
        isinstance(exc, ODataError)
        and exc.response_status_code == 403
        and bool(exc.error and exc.error.code == GRAPH_DENIED)
    )


def owner_advice(application: str, caller: Caller | None) -> str:
    """What to run so that the operator's identity may write `application` (its client id or object id, both of
    which `az ad app owner add --id` takes): make it an owner, and grant the Graph permission if its token lacks
    it. Ids only: `caller` holds no secret."""
    who = "the operator's identity"
    if caller is not None and (caller.object_id or caller.client_id):
        named = [f"service principal {caller.object_id}"] if caller.object_id else []
        named += [f"client id {caller.client_id}"] if caller.client_id else []
        who += f" ({', '.join(named)})"
    if caller is not None and caller.object_id:
        owner = caller.object_id
    elif caller is not None and caller.client_id:
        owner = f"$(az ad sp show --id {caller.client_id} --query id -o tsv)"
    else:
        owner = "<the object id of the operator's service principal>"
    add = f"`az ad app owner add --id {application} --owner-object-id {owner}`"
    if caller is not None and caller.roles is not None and not set(caller.roles) & _WRITES_APPLICATIONS:
        held = ", ".join(sorted(caller.roles)) or "none"
        return (
            f"{who} holds no Graph permission to write applications (its token grants: {held}): grant it "
            f"Application.ReadWrite.OwnedBy with admin consent (docs/install.md), and make it an owner of "
            f"application {application}: {add}"
        )
    return f"{who} is not an owner of application {application}: add it with {add}"


# ARM's refusal names the caller, the action and the scope; they are the role assignment an administrator makes.
_ARM_DENIED = re.compile(
    r"with object id '(?P<oid>[0-9a-fA-F-]{36})' does not have authorization to perform action "
    r"'(?P<action>[A-Za-z0-9./_-]+)' over scope '(?P<scope>/[^'\s`$\"]+)'"
)


def arm_denied_advice(detail: str) -> str | None:
    """The grant ARM's `AuthorizationFailed` asks for, as an `az role assignment create` command; None when its
    text does not name the caller, action and scope."""
    found = _ARM_DENIED.search(detail)
    if found is None:
        return None
    oid, action, scope = found.group("oid"), found.group("action"), found.group("scope")
    lowered = action.lower()
    if lowered.endswith("/read"):
        role = "Reader"
    elif lowered.startswith("microsoft.authorization/roleassignments/"):
        role = "Role Based Access Control Administrator"
    else:
        role = f"<a role with {action}>"
    return (
        f"grant the operator's identity (object id {oid}) {action} at {scope} or above, e.g. `az role assignment "
        f'create --assignee-object-id {oid} --assignee-principal-type ServicePrincipal --role "{role}" '
        f"--scope {shlex.quote(scope)}` (docs/install.md lists each action and its scope)"
    )
