"""Observe: every read one pass needs, made once, into one frozen `Observed`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from acs_smtp_operator.azure import acs as acs_api
from acs_smtp_operator.azure import passwords, roles
from acs_smtp_operator.azure.shared import assignments_key
from acs_smtp_operator.decide import expected_role_id
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.identity import assignment_guid, role_guid, secret_name, smtp_username_resource
from acs_smtp_operator.kube import workloads
from acs_smtp_operator.kube_secret import secret_view
from acs_smtp_operator.model import AcsRef, RestartTarget, RoleSpec, Spec
from acs_smtp_operator.observed import AssignmentView, Observed, RolesSeen, SenderDomain
from acs_smtp_operator.ports import Ports
from acs_smtp_operator.report import Done

__all__ = ["observe", "rollouts_done"]

T = TypeVar("T")


async def _shared(ports: Ports, done: Done, key: tuple[str, ...], load: Callable[[], Awaitable[T]]) -> T:
    """A read many credentials share (see `azure.shared`), noted in `done`: a pass that fails makes it stale."""
    done.shared_keys.add(key)
    return await ports.shared.read(key, load)


async def _domains(ports: Ports, acs: AcsRef, done: Done) -> tuple[SenderDomain, ...]:
    communication = ports.azure.communication
    ids = await _shared(
        ports,
        done,
        ("acs", acs.resource_id.lower()),
        lambda: acs_api.linked_domain_ids(communication(acs.subscription_id), acs),
    )
    domains = []
    for domain_id in ids:
        read = functools.partial(acs_api.read_domain, communication, domain_id)
        domains.append(await _shared(ports, done, ("domain", domain_id.lower()), read))
    return tuple(domains)


async def _principal(
    ports: Ports,
    done: Done,
    uid: str,
    client_id: str,
    acs: AcsRef,
    role_id: str,
    listed: dict[str, AssignmentView],
    recorded: str | None,
) -> str:
    """The application's service principal, read from Graph (shared by the application's credentials, fresh
    for the shared-read time); or, at the first pass this process makes for the credential (a start-up), the
    principal of the assignment its status records, if ARM lists that assignment under the name derived from
    it. Taken that way it serves that one pass, and only that credential (status can be edited), and nothing
    is written for it (the assignment is listed); a principal re-made meanwhile is seen at the next pass."""
    shared = ports.shared
    common, own = ("principal", client_id.lower()), ("principal", client_id.lower(), uid)
    known = shared.fresh(common)
    if isinstance(known, str):
        done.shared_keys.add(common)  # a failed pass of any of the application's credentials reads it again
        return known
    if recorded and shared.peek(own) is None:
        name = recorded.rstrip("/").rsplit("/", 1)[-1].lower()
        found = listed.get(name)
        principal = found.principal_id if found is not None else None
        if principal and assignment_guid(acs.resource_id, role_id, principal) == name:
            shared.put(own, principal, ttl=0.0)  # spent: the next pass reads Graph
            return principal
    return await _shared(ports, done, common, lambda: passwords.find_service_principal(ports.azure.graph, client_id))


async def _roles(ports: Ports, acs: AcsRef, role: RoleSpec) -> RolesSeen:
    """The policy's role as seen from the ACS resource: every read is made at its scope, so that read access
    there (inherited from the role's definition scope) is all it takes."""
    client, scope = ports.azure.authorization(acs.subscription_id), acs.resource_id
    if role.existing_role_definition_id:
        return RolesSeen(existing=await roles.existing_role(client, scope, role.existing_role_definition_id))
    if role.built_in_role_name:
        return RolesSeen(existing=await roles.built_in_role(client, scope, role.built_in_role_name))
    ours = await roles.read_role(client, scope, role_guid(ports.tenant_id, role.custom_role_name))
    if ours is not None:
        return RolesSeen(ours=ours)
    return RolesSeen(same_name=await roles.roles_named(client, scope, role.custom_role_name))


async def rollouts_done(ports: Ports, namespace: str, targets: tuple[RestartTarget, ...]) -> bool:
    """Have the workloads restarted for the last rotation finished rolling out? (Kubernetes reads only.)

    The targets are resolved again (a selector listed once): the workloads they name or select now, which are
    the ones restarted unless labels changed meanwhile. A workload that cannot be read, or targets that come to
    more than the bound, count as still rolling out: the rollout timeout moves the key on.
    """
    try:
        resolved = await workloads.resolve(ports.kube, namespace, targets, ports.settings.max_restart_targets)
        return await workloads.rollouts_complete(ports.kube, namespace, resolved)
    except Failure:
        return False


async def observe(
    ports: Ports,
    namespace: str,
    name: str,
    uid: str,
    spec: Spec,
    role: RoleSpec,
    rollout_pending: bool,
    done: Done,
    recorded: str | None = None,
    entry: str | None = None,
    moved_from: str | None = None,
) -> Observed:
    """Read the ACS resource, the application and its service principal, the role and its assignment,
    the smtpUsernames entry (`entry`, else the uid-derived name), the Secret, and the rollout when one is pending.

    When the Secret is missing and status names another one it wrote (`moved_from`: spec.secret.name changed),
    that one is read too: its password moves to the new name instead of a new client secret being issued.

    The linked domains are noted in `done` as soon as they are read: a later read that fails does not
    hide whether the resource can send.
    """
    acs, client_id = spec.communication_service, spec.entra_application.client_id
    done.domains = domains = await _domains(ports, acs, done)
    application = await passwords.find_application(ports.azure.graph, client_id)
    # Owned, before anything is written (a role assignment or an entry for an application whose key it cannot
    # add would be left for nothing): shared by the application's credentials, like the other reads.
    await _shared(
        ports,
        done,
        ("owned", application.object_id.lower()),
        lambda: passwords.check_owner(ports.azure.graph, application),
    )
    seen = await _shared(
        ports, done, ("role", acs.resource_id.lower(), role.model_dump_json()), lambda: _roles(ports, acs, role)
    )
    role_id = expected_role_id(role, acs, ports.tenant_id, seen)
    client = ports.azure.authorization(acs.subscription_id)
    listed = await _shared(
        ports, done, assignments_key(acs.resource_id), lambda: roles.assignments_at(client, acs.resource_id)
    )
    principal = await _principal(ports, done, uid, client_id, acs, role_id, listed, recorded)
    assignment = listed.get(assignment_guid(acs.resource_id, role_id, principal))
    smtp_username = None
    if spec.username.format == "SmtpUsername":
        smtp_username = await acs_api.read_smtp_username(
            ports.azure.communication(acs.subscription_id), acs, entry or smtp_username_resource(namespace, name, uid)
        )
    wanted = secret_name(name, spec.secret.name)
    secret = await ports.kube.read_secret(namespace, wanted)
    previous = None
    if secret is None and moved_from and moved_from != wanted:
        previous = secret_view(await ports.kube.read_secret(namespace, moved_from), uid)
    rolled_out = not rollout_pending or await rollouts_done(ports, namespace, spec.restart_targets)
    return Observed(
        domains=domains,
        application=application,
        principal_id=principal,
        roles=seen,
        role_id=role_id,
        assignment=assignment,
        smtp_username=smtp_username,
        secret=secret_view(secret, uid, name),  # or one a deleted credential of this name left: adopted
        moved_from=previous if previous is not None and previous.owned else None,
        rollout_done=rolled_out,
    )
