"""Observe: every read one pass needs, made once, into one frozen `Observed`."""

from __future__ import annotations

from acs_smtp_operator.azure import acs as acs_api
from acs_smtp_operator.azure import passwords, roles
from acs_smtp_operator.decide import expected_role_id
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.identity import assignment_guid, role_guid, secret_name, smtp_username_resource
from acs_smtp_operator.kube import workloads
from acs_smtp_operator.kube_secret import secret_view
from acs_smtp_operator.model import AcsRef, RestartTarget, RoleSpec, Spec
from acs_smtp_operator.observed import Observed, RolesSeen
from acs_smtp_operator.ports import Ports
from acs_smtp_operator.report import Done

__all__ = ["observe", "rollouts_done"]


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

    A workload that cannot be read counts as still rolling out: the rollout timeout moves the key on.
    """
    try:
        for target in targets:
            if not await workloads.rollout_complete(ports.kube, target.kind, namespace, target.name):
                return False
    except Failure:
        return False
    return True


async def observe(
    ports: Ports,
    namespace: str,
    name: str,
    uid: str,
    spec: Spec,
    role: RoleSpec,
    rollout_pending: bool,
    done: Done,
) -> Observed:
    """Read the ACS resource, the application and its service principal, the role and its assignment,
    the smtpUsernames entry, the Secret, and the rollout when one is pending.

    The linked domains are noted in `done` as soon as they are read: a later read that fails does not
    hide whether the resource can send.
    """
    acs, client_id = spec.communication_service, spec.entra_application.client_id
    ids = await acs_api.linked_domain_ids(ports.azure.communication(acs.subscription_id), acs)
    domains = tuple([await acs_api.read_domain(ports.azure.communication, i) for i in ids])
    done.domains = domains
    application = await passwords.find_application(ports.azure.graph, client_id)
    principal = await passwords.find_service_principal(ports.azure.graph, client_id)
    seen = await _roles(ports, acs, role)
    role_id = expected_role_id(role, acs, ports.tenant_id, seen)
    assignment = await roles.read_role_assignment(
        ports.azure.authorization(acs.subscription_id),
        acs.resource_id,
        assignment_guid(acs.resource_id, role_id, principal),
    )
    smtp_username = None
    if spec.username.format == "SmtpUsername":
        smtp_username = await acs_api.read_smtp_username(
            ports.azure.communication(acs.subscription_id), acs, smtp_username_resource(namespace, name)
        )
    secret = await ports.kube.read_secret(namespace, secret_name(name, spec.secret.name))
    rolled_out = not rollout_pending or await rollouts_done(ports, namespace, spec.restart_targets)
    return Observed(
        domains=domains,
        application=application,
        principal_id=principal,
        roles=seen,
        role_id=role_id,
        assignment=assignment,
        smtp_username=smtp_username,
        secret=secret_view(secret, uid),
        rollout_done=rolled_out,
    )
