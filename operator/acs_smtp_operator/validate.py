"""Pure validation of the spec: everything the CRD's schema cannot express, before any Azure call."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.identity import secret_name
from acs_smtp_operator.model import (
    LONGEST_LIFETIME,
    SHORTEST_ROTATION,
    Reason,
    Spec,
    parse_duration,
    schema_problems,
)
from acs_smtp_operator.smtp import compose_username
from acs_smtp_operator.template import NAMES, TemplateError, parse_all, rendered_size

__all__ = ["validate", "validate_names"]


MOST_RENDERED = 512 * 1024  # characters the template entries may render to (a Secret holds 1 MiB in all)
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}\Z")
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}\Z")
_LABEL_VALUE = re.compile(rf"^({_NAME})?\Z")


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
    if spec.username.format == "SmtpUsername" and spec.secret.deletion_policy == "Orphan":  # as the CRD's rule says
        return "spec.secret.deletionPolicy Orphan is not supported with username.format SmtpUsername"
    for field, text in (
        ("secretLifetime", spec.rotation.secret_lifetime),
        ("renewBefore", spec.rotation.renew_before),
        ("gracePeriod", spec.rotation.grace_period),
    ):
        try:
            parse_duration(text)
        except ValueError as exc:
            return f"spec.rotation.{field}: {exc}"
    return _rotation_problem(spec) or _template_problem(spec, tenant_id, host, port)


def _rotation_problem(spec: Spec) -> str | None:
    """The bounds the CRD's CEL rules state too (an object stored before a rule existed is judged here)."""
    rotation = spec.rotation
    if rotation.lifetime > LONGEST_LIFETIME:
        return f"spec.rotation.secretLifetime {rotation.secret_lifetime} is above the longest, 17520h (two years)"
    if rotation.lifetime - rotation.renew < SHORTEST_ROTATION:
        return (
            f"spec.rotation: secretLifetime {rotation.secret_lifetime} - renewBefore {rotation.renew_before} "
            "(the time between scheduled rotations) must be at least 1h"
        )
    if rotation.grace > rotation.lifetime:
        return f"spec.rotation.gracePeriod {rotation.grace_period} is longer than secretLifetime"
    return None


def _template_problem(spec: Spec, tenant_id: str, host: str, port: int) -> str | None:
    """Keys, labels and annotations Kubernetes accepts; the placeholder syntax; a size a Secret can hold."""
    template = spec.secret.template
    data = template.data
    bad = next((k for k in data if not _DATA_KEY.match(k)), None)
    if bad is not None:
        return f"spec.secret.template.data: {bad!r} is not a Secret key (letters, digits, '-', '_', '.'; 253 at most)"
    for key in template.annotations:
        if not _LABEL_KEY.match(key):
            return f"spec.secret.template.annotations: {key!r} is not a valid annotation key"
    for key, value in template.labels.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            return f"spec.secret.template.labels: {key!r}: {value!r} is not a valid Kubernetes label"
    taken = sorted(set(data) & set(NAMES))
    if taken:
        return f"spec.secret.template.data: {', '.join(taken)} are the Secret's own keys and cannot be templated"
    try:
        parse_all(data)  # the syntax only: a value such as `from` is known once the resource is read
    except TemplateError as exc:
        return f"spec.{exc}"
    username = compose_username(
        spec.username.format,
        spec.communication_service.name,
        spec.entra_application.client_id,
        tenant_id,
        spec.username.smtp_username,
    )
    # Entra: "strong passwords ... 16-64 characters" (passwordCredential.secretText); an address: 320 at most.
    longest = {
        "username": len(username),
        "password": 64,
        "host": len(host),
        "port": len(str(port)),
        "from": 320,
        "starttls": len("false"),
    }
    size = rendered_size(data, longest)
    if size > MOST_RENDERED:
        return (
            f"spec.secret.template.data could render to {size} characters; at most {MOST_RENDERED} fit in a Secret "
            "(1 MiB in all, base64-encoded)"
        )
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


def validate_names(spec: Spec, name: str) -> None:
    """What depends on the credential's own name: its Secret's (`<name>-smtp` by default) must be valid."""
    secret = secret_name(name, spec.secret.name)
    if len(secret) > 253:
        raise _invalid(
            f"the Secret's name {secret[:40]}... would be {len(secret)} characters (253 at most): "
            "set spec.secret.name, or shorten the credential's name"
        )
