"""Pure SMTP facts: the username ACS expects and the Secret data pods mount (its template: `template.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from acs_smtp_operator.observed import SenderDomain

__all__ = [
    "compose_username",
    "envelope_sender",
    "on_linked_domain",
    "secret_data",
    "sender_address",
]


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


def _usable(domains: Sequence[SenderDomain]) -> SenderDomain | None:
    usable = [d for d in domains if d.can_send] or [d for d in domains if d.sender]
    return usable[0] if usable else None


def sender_address(domains: Sequence[SenderDomain]) -> str | None:
    """The Secret's `from`, what applications write in the From header: ACS's default sender (`DoNotReply`) on
    the first linked domain that can send (else the first linked one), at its `fromSenderDomain` (P2, "the
    sender domain that is displayed to the email recipients [RFC5322]" in the 2025-09-01 DomainProperties).

    Never the domain's resource name: an Azure-managed domain's resource is always `AzureManagedDomain` and
    sends as `<guid>.azurecomm.net`.
    """
    domain = _usable(domains)
    return f"DoNotReply@{domain.header or domain.sender}" if domain is not None else None


def envelope_sender(domains: Sequence[SenderDomain]) -> str | None:
    """What MAIL FROM carries when the operator proves a key over SMTP (`rotation.verify: Smtp`): the same
    sender at `mailFromSenderDomain` (P1, "the sender domain that is present on the email envelope [RFC5321]")."""
    domain = _usable(domains)
    return f"DoNotReply@{domain.sender}" if domain is not None else None


def secret_data(username: str, password: str, host: str, port: int, sender: str | None) -> dict[str, str]:
    data = {"username": username, "password": password, "host": host, "port": str(port), "starttls": "true"}
    if sender:
        data["from"] = sender
    return data
