"""Pure SMTP facts: the username ACS expects and the Secret data pods mount."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Literal

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from acs_smtp_operator.observed import SenderDomain

__all__ = [
    "PLACEHOLDER_PASSWORD",
    "TemplateRenderError",
    "compose_username",
    "on_linked_domain",
    "render_template_data",
    "secret_data",
    "sender_address",
]


# A client secret's shape (Entra's: 3 characters, `8Q~`, 34 more), to dry-run templates without a real one.
PLACEHOLDER_PASSWORD = "Pla8Q~" + "x" * 34


class TemplateRenderError(ValueError):
    """A `secret.template.data` entry that cannot render; `key` names it."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"secret.template.data[{key!r}] does not render: {detail}")
        self.key = key


def compose_username(
    format: Literal["Dot", "Pipe", "SmtpUsername"],
    acs_name: str,
    client_id: str,
    tenant_id: str,
    smtp_username: str | None = None,
) -> str:
    """`<acs>.<app>.<tenant>`, `<acs>|<app>|<tenant>`, or the smtpUsernames resource's username."""
    if format == "SmtpUsername":
        if not smtp_username:
            raise ValueError("format SmtpUsername needs smtpUsername")
        return smtp_username
    separator = "|" if format == "Pipe" else "."
    return separator.join((acs_name, client_id, tenant_id))


def on_linked_domain(username: str, domains: Sequence[SenderDomain]) -> bool:
    """An email-form smtpUsername must be on a linked domain's sender domain; free text needs none."""
    if "@" not in username:
        return True
    return username.rsplit("@", 1)[1].lower() in {d.sender.lower() for d in domains if d.sender}


def sender_address(domains: Sequence[SenderDomain]) -> str | None:
    """ACS's default sender (`DoNotReply`) on the first linked domain that can send, else the first linked one.

    The domain is the domain resource's `mailFromSenderDomain`, never its resource name: an Azure-managed
    domain's resource is always `AzureManagedDomain` and sends as `<guid>.azurecomm.net`.
    """
    usable = [d for d in domains if d.can_send] or [d for d in domains if d.sender]
    return f"DoNotReply@{usable[0].sender}" if usable else None


def secret_data(username: str, password: str, host: str, port: int, sender: str | None) -> dict[str, str]:
    data = {"username": username, "password": password, "host": host, "port": str(port), "starttls": "true"}
    if sender:
        data["from"] = sender
    return data


def _urlquote(value: object) -> str:
    """Percent-encode everything a URL's userinfo cannot hold (`|`, `@`, `.`, `:`, `/`, ...)."""
    return urllib.parse.quote(str(value), safe="").replace(".", "%2E")


_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_ENV.filters["urlquote"] = _urlquote


def render_template_data(templates: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    """Render extra Secret keys with a sandboxed Jinja2; e.g. `smtp://{{ username|urlquote }}:...`."""
    rendered = {}
    for key, template in templates.items():
        try:
            rendered[key] = _ENV.from_string(template).render(**values)
        except TemplateError as exc:
            raise TemplateRenderError(key, str(exc.message)) from None
        except Exception as exc:  # arithmetic, type and other errors of the template's own expressions
            raise TemplateRenderError(key, type(exc).__name__) from None
    return rendered
