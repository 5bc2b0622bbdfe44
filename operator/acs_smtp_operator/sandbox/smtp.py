"""An SMTP server that authenticates like Azure Communication Services.

STARTTLS is required, AUTH LOGIN is the only mechanism offered here (ACS also takes XOAUTH2 with an Entra
token, not emulated; PLAIN is reported to fail: docs/sandbox.md), the username
names an ACS resource, an Entra application and a tenant (dot, pipe or an
smtpUsernames entry), the password must be a current client secret of that
application, and its service principal must hold a role on the ACS resource
with the actions ACS checks (the three Microsoft documents today, or the older
two with `smtpRoleActions: Legacy`). The sender must be on the sender domain
(`mailFromSenderDomain`) of a linked domain whose records are verified.
"""

from __future__ import annotations

import asyncio
import email
import logging
import ssl
from dataclasses import dataclass
from email import policy
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from acs_smtp_operator.sandbox.azure.context import Context
from acs_smtp_operator.sandbox.azure.state import CommunicationService

__all__ = ["AUTH_FAILED", "AcsSmtpHandler", "start_smtp"]

AUTH_FAILED = "535 5.7.3 Authentication unsuccessful"
SENDER_REFUSED = "550 5.7.1 Sender address is not on a domain linked to the resource"
SENDER_UNVERIFIED = "550 5.7.1 Sender domain is not verified"


@dataclass(frozen=True)
class _Login:
    acs: CommunicationService
    app_id: str
    username: str


class AcsSmtpHandler:
    """aiosmtpd handler and authenticator over the emulated tenant."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        refused = AuthResult(success=False, handled=False, message=AUTH_FAILED)
        if mechanism != "LOGIN" or not isinstance(auth_data, LoginPassword):
            return refused
        cloud, now = self._ctx.cloud, self._ctx.now()
        username = auth_data.login.decode(errors="replace")
        password = auth_data.password.decode(errors="replace")
        resolved = cloud.resolve_smtp_username(username)
        if resolved is None:
            return refused
        acs, app_id, tenant_id = resolved
        if tenant_id.lower() != cloud.tenant_id or cloud.check_secret(app_id, password, now) is not None:
            return refused
        sp = cloud.sp_by_app_id(app_id)
        if sp is None or not cloud.can_send(sp.object_id, acs, now):
            return refused
        return AuthResult(success=True, auth_data=_Login(acs=acs, app_id=app_id, username=username))

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        login = session.auth_data
        domain = address.rsplit("@", 1)[-1].lower()
        if not isinstance(login, _Login):
            return SENDER_REFUSED
        senders = [d for d in self._ctx.cloud.sender_domains(login.acs) if d.sender_domain.lower() == domain]
        if not senders:
            return SENDER_REFUSED
        if not any(d.can_send for d in senders):
            return SENDER_UNVERIFIED
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=policy.default)
        self._ctx.messages.append(
            {
                "mailFrom": envelope.mail_from,
                "rcptTos": list(envelope.rcpt_tos),
                "subject": str(message.get("Subject", "")),
                "body": message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
                if message.get_body(preferencelist=("plain",))
                else "",
                "username": login.username if isinstance(login, _Login) else None,
                "communicationService": login.acs.id if isinstance(login, _Login) else None,
                "time": self._ctx.now().isoformat(),
            }
        )
        return "250 2.6.0 Message accepted"


async def start_smtp(ctx: Context, host: str, port: int, tls: ssl.SSLContext) -> asyncio.Server:
    """Listen for SMTP on the running loop; the caller closes the returned server."""
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd warns about its own deprecated field
    handler = AcsSmtpHandler(ctx)
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname="smtp.sandbox.local",
            tls_context=tls,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            auth_exclude_mechanism=["PLAIN"],
            authenticator=handler.authenticate,
            data_size_limit=10 * 1024 * 1024,
            loop=loop,
        )

    return await loop.create_server(factory, host=host, port=port)
