"""`acs-smtp-operator check`: prove a Secret's credential from outside, as a pod's mail client would use it.

Connect, EHLO, STARTTLS (the server's certificate verified), EHLO, AUTH LOGIN (the only mechanism ACS takes),
`MAIL FROM:<from>`, RSET, QUIT. No recipient is given and no mail is sent. The verdict names the first step
that failed and the server's own answer (`535` at AUTH LOGIN is the password or the role, `550` at MAIL FROM
is the sender's domain). The password is never part of the verdict.
"""

from __future__ import annotations

import enum
import smtplib
import socket
import ssl
from dataclasses import dataclass, field

from acs_smtp_operator.describe import CONTROL, printable

__all__ = ["EXIT_CODES", "Check", "Step", "Verdict", "run_check"]

EHLO_NAME = "acs-smtp-operator-check"


class Step(enum.StrEnum):
    CONNECT = "CONNECT"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH LOGIN"
    MAIL_FROM = "MAIL FROM"
    RSET = "RSET"
    QUIT = "QUIT"


# The exit code of `check` when a step fails (0: every step passed; 1: the Secret could not be read).
EXIT_CODES = {Step.CONNECT: 3, Step.STARTTLS: 4, Step.AUTH: 5, Step.MAIL_FROM: 6, Step.RSET: 7, Step.QUIT: 7}


@dataclass(frozen=True, kw_only=True)
class Check:
    """What a pod would read from the Secret."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    sender: str | None
    starttls: bool = True


@dataclass(frozen=True, kw_only=True)
class Verdict:
    passed: tuple[Step, ...]
    failed: Step | None = None
    why: str = ""
    tls: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed is None

    @property
    def exit_code(self) -> int:
        return 0 if self.failed is None else EXIT_CODES[self.failed]


def _said(code: int, message: bytes | str) -> str:
    text = message.decode(errors="replace") if isinstance(message, bytes) else message
    return " ".join(printable(f"{code} {text}").split())  # a multi-line answer on one line


_BROKE = (OSError, smtplib.SMTPException, ValueError)  # ValueError: smtplib refuses CR/LF or non-ASCII input


def run_check(check: Check, context: ssl.SSLContext, timeout: float = 20.0) -> Verdict:
    """Every step, stopping at the first that fails. The password is sent only inside TLS."""
    passed: list[Step] = []
    tls: str | None = None

    def failed(step: Step, why: str) -> Verdict:
        return Verdict(passed=tuple(passed), failed=step, why=why, tls=tls)

    if not check.starttls:
        return failed(
            Step.STARTTLS,
            "the Secret's starttls is not true: ACS requires STARTTLS, and no password is sent without it",
        )
    try:
        # Given the host, smtplib connects at once and keeps the name for the certificate check at STARTTLS; our
        # own EHLO name, so that the machine's is neither looked up nor told.
        client = smtplib.SMTP(check.host, check.port, local_hostname=EHLO_NAME, timeout=timeout)
    except smtplib.SMTPConnectError as exc:
        return failed(Step.CONNECT, f"the server greeted with {_said(exc.smtp_code, exc.smtp_error)}")
    except _BROKE as exc:
        return failed(Step.CONNECT, f"{printable(check.host)}:{check.port} could not be reached ({_error(exc)})")
    try:
        try:
            code, answer = client.ehlo()
        except _BROKE as exc:
            return failed(Step.CONNECT, f"EHLO failed ({_error(exc)})")
        if code != 250:
            return failed(Step.CONNECT, f"EHLO refused: {_said(code, answer)}")
        passed.append(Step.CONNECT)
        if not client.has_extn("starttls"):
            return failed(Step.STARTTLS, "the server does not offer STARTTLS")
        try:
            client.starttls(context=context)
            code, answer = client.ehlo()
        except ssl.SSLCertVerificationError as exc:
            return failed(
                Step.STARTTLS, f"the server's certificate is not trusted: {printable(str(exc.verify_message))}"
            )
        except _BROKE as exc:
            return failed(Step.STARTTLS, f"TLS failed ({_error(exc)})")
        if not isinstance(client.sock, ssl.SSLSocket):  # smtplib raises first; the invariant is ours to keep
            return failed(Step.STARTTLS, "the connection is not encrypted")
        if code != 250:
            return failed(Step.STARTTLS, f"EHLO after STARTTLS refused: {_said(code, answer)}")
        tls = client.sock.version()
        passed.append(Step.STARTTLS)
        offered = client.esmtp_features.get("auth", "").upper().split()
        if "LOGIN" not in offered:
            return failed(
                Step.AUTH, f"the server does not offer AUTH LOGIN (it offers: {printable(' '.join(offered)) or 'none'})"
            )
        if not (check.username.isascii() and check.password.isascii()):
            return failed(Step.AUTH, "the username or the password is not ASCII: AUTH LOGIN cannot send it")
        client.user, client.password = check.username, check.password
        try:
            code, answer = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        except smtplib.SMTPAuthenticationError as exc:
            return failed(Step.AUTH, _said(exc.smtp_code, exc.smtp_error))
        except _BROKE as exc:
            return failed(Step.AUTH, f"the login broke off ({_error(exc)})")
        finally:
            client.password = ""
        if code != 235:
            return failed(Step.AUTH, _said(code, answer))
        passed.append(Step.AUTH)
        if not check.sender:
            return failed(Step.MAIL_FROM, "no sender: the Secret has no `from` (no linked domain yet?); give --from")
        if not check.sender.isascii() or CONTROL.search(check.sender):
            return failed(Step.MAIL_FROM, f"<{printable(check.sender)}> is not an address SMTP can carry")
        try:
            code, answer = client.mail(check.sender)
        except _BROKE as exc:
            return failed(Step.MAIL_FROM, f"the connection broke off ({_error(exc)})")
        if code != 250:
            return failed(Step.MAIL_FROM, f"<{check.sender}> refused: {_said(code, answer)}")
        passed.append(Step.MAIL_FROM)
        try:
            code, answer = client.rset()
        except _BROKE as exc:
            return failed(Step.RSET, f"the connection broke off ({_error(exc)})")
        if code != 250:
            return failed(Step.RSET, _said(code, answer))
        passed.append(Step.RSET)
        try:
            client.quit()
        except _BROKE as exc:
            return failed(Step.QUIT, f"the connection broke off ({_error(exc)})")
        passed.append(Step.QUIT)
        return Verdict(passed=tuple(passed), failed=None, why="", tls=tls)
    finally:
        client.close()


def _error(exc: BaseException) -> str:
    """The kind of failure, and the server's or the system's words; never an argument we gave."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return _said(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, socket.gaierror):
        return f"name not resolved: {exc.strerror}"
    if isinstance(exc, ssl.SSLError):
        return f"{type(exc).__name__}: {exc.reason or exc.strerror or 'handshake failed'}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {printable(exc.strerror)}"
    return type(exc).__name__
