"""Prove that a new client secret works before any pod sees it."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from datetime import timedelta

import aiosmtplib
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError

from acs_smtp_operator.azure.clients import ResponseHook, client_secret_credential
from acs_smtp_operator.azure.errors import AADSTS
from acs_smtp_operator.settings import Settings

__all__ = ["verify_smtp", "verify_token"]


async def _retry(attempt: object, bound: timedelta, interval: float) -> str | None:
    """Run `attempt` (returns None on success, else why) until it succeeds or `bound` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound.total_seconds()
    while True:
        why = await attempt()  # type: ignore[operator]
        if why is None or loop.time() + interval > deadline:
            return why  # type: ignore[no-any-return]
        await asyncio.sleep(interval)


async def verify_token(
    settings: Settings,
    tenant_id: str,
    client_id: str,
    secret: str,
    bound: timedelta,
    interval: float = 1.0,
    hook: ResponseHook | None = None,
) -> str | None:
    """None once the secret gets an Entra token for ACS; else the last refusal (AADSTS code, never the secret)."""

    async def attempt() -> str | None:
        credential = client_secret_credential(settings, tenant_id, client_id, secret, hook)
        try:
            await credential.get_token(settings.communication_audience)
            return None
        except ClientAuthenticationError as exc:
            found = AADSTS.search(str(exc.message or ""))
            return f"Entra refused the new secret (AADSTS{found.group(1) if found else ' code unknown'})"
        except (ServiceRequestError, ServiceResponseError, OSError) as exc:
            return f"the Entra token endpoint could not be reached ({type(exc).__name__})"
        finally:
            await credential.close()

    return await _retry(attempt, bound, interval)


async def verify_smtp(
    settings: Settings, username: str, secret: str, sender: str | None, bound: timedelta, interval: float = 1.0
) -> str | None:
    """None once the new secret does what a pod will do, short of sending: STARTTLS, AUTH LOGIN, then
    `MAIL FROM:<sender>` accepted (the role and the sender domain are judged there too), then RSET and QUIT.

    Without a sender (no linked domain yet) only the login is proven.
    """
    context: ssl.SSLContext = settings.ssl_context()

    async def attempt() -> str | None:
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host, port=settings.smtp_port, start_tls=True, tls_context=context, timeout=10
        )
        try:
            await client.connect()
            await client.login(username, secret)
            if sender is not None:
                try:
                    await client.mail(sender)
                except aiosmtplib.SMTPResponseException as exc:
                    return f"SMTP refused MAIL FROM:<{sender}>: {exc.code} {exc.message}"
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.rset()  # MAIL FROM was accepted: the proof stands whatever RSET answers
            return None
        except aiosmtplib.SMTPAuthenticationError as exc:
            return f"SMTP login refused: {exc.code} {exc.message}"
        except (aiosmtplib.SMTPException, OSError) as exc:
            return f"SMTP endpoint {settings.smtp_host}:{settings.smtp_port} failed: {type(exc).__name__}"
        finally:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()

    return await _retry(attempt, bound, interval)
