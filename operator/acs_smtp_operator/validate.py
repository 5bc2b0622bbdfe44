"""Pure validation of the spec: everything the CRD's schema cannot express, before any Azure call."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.model import Reason, Spec, parse_duration, schema_problems
from acs_smtp_operator.smtp import (
    PLACEHOLDER_PASSWORD,
    TemplateRenderError,
    compose_username,
    render_template_data,
    secret_data,
)

__all__ = ["validate"]


def _invalid(problem: str) -> Failure:
    return Failure(Reason.INVALID_SPEC, problem, retry=UntilSpecChanges())


def _problems(spec: Spec, tenant_id: str, host: str, port: int) -> str | None:
    tenant = spec.entra_application.tenant_id
    if tenant and tenant.lower() != tenant_id.lower():
        return (
            f"spec.entraApplication.tenantId {tenant} is not the operator's tenant {tenant_id}; "
            "this operator manages applications in its own tenant"
        )
    if spec.username.format == "SmtpUsername" and not spec.username.smtp_username:
        return "spec.username.smtpUsername: format SmtpUsername needs the username"
    for field, text in (
        ("secretLifetime", spec.rotation.secret_lifetime),
        ("renewBefore", spec.rotation.renew_before),
        ("gracePeriod", spec.rotation.grace_period),
    ):
        try:
            parse_duration(text)
        except ValueError as exc:
            return f"spec.rotation.{field}: {exc}"
    # A dry run over the real values but the password (the sender is known only once the resource is read:
    # a placeholder here, the real one when the plan is made).
    username = compose_username(
        spec.username.format,
        spec.communication_service.name,
        spec.entra_application.client_id,
        tenant_id,
        spec.username.smtp_username,
    )
    values = secret_data(username, PLACEHOLDER_PASSWORD, host, port, "DoNotReply@example.invalid")
    try:
        render_template_data(spec.secret.template.data, values)
    except TemplateRenderError as exc:
        return f"spec.{exc}"
    return None


def validate(raw: dict[str, Any], tenant_id: str, host: str, port: int) -> Spec:
    """The typed spec, or a `Failure` (InvalidSpec, not retried until the spec changes)."""
    try:
        spec = Spec.parse(raw)
    except ValidationError as exc:
        raise _invalid(schema_problems(exc)) from None
    problem = _problems(spec, tenant_id, host, port)
    if problem:
        raise _invalid(problem)
    return spec
