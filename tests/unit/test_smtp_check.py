"""`check`'s SMTP steps against servers that misbehave in the ways a wrong Secret or endpoint would show.

aiosmtpd on loopback, with a certificate from a throwaway CA: what the real ACS-like sandbox server never does
(no STARTTLS, PLAIN only, escape sequences in a reply) is set up here.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from acs_smtp_operator.smtp_check import Check, Step, run_check

CA = trustme.CA()


class Handler:
    def __init__(self, refusal: str = "535 5.7.3 Authentication unsuccessful") -> None:
        self.logins: list[tuple[str, str]] = []
        self.refusal = refusal

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        if data.password == b"right":
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False, message=self.refusal)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        return "250 OK" if address.endswith("@mail.example") else "550 5.7.1 Sender address is not on a linked domain"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(handler: Handler, tls: bool = True, **smtp: Any) -> Iterator[int]:
    context = None
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        CA.issue_cert("127.0.0.1").configure_cert(context)
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=tls,
        auth_require_tls=tls,
        authenticator=handler.authenticate,
        **smtp,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def trust() -> ssl.SSLContext:
    context = ssl.create_default_context()
    CA.configure_trust(context)
    return context


def probe(port: int, password: str = "right", sender: str | None = "DoNotReply@mail.example") -> Check:
    return Check(host="127.0.0.1", port=port, username="acs.app.tenant", password=password, sender=sender)


def test_every_step_passes_and_no_mail_is_sent(trust: ssl.SSLContext) -> None:
    handler = Handler()
    for port in serve(handler, auth_exclude_mechanism=["PLAIN"]):
        verdict = run_check(probe(port), trust, timeout=5)
        assert verdict.ok and verdict.exit_code == 0
        assert verdict.passed == (Step.CONNECT, Step.STARTTLS, Step.AUTH, Step.MAIL_FROM, Step.RSET, Step.QUIT)
        assert verdict.tls is not None and verdict.tls.startswith("TLSv1.")


def test_a_server_without_starttls_never_sees_the_password(trust: ssl.SSLContext) -> None:
    handler = Handler()
    for port in serve(handler, tls=False, auth_exclude_mechanism=["PLAIN"]):
        verdict = run_check(probe(port), trust, timeout=5)
    assert verdict.failed == Step.STARTTLS and verdict.exit_code == 4
    assert verdict.why == "the server does not offer STARTTLS"
    assert handler.logins == []


def test_a_secret_that_says_no_starttls_is_not_tried_at_all(trust: ssl.SSLContext) -> None:
    check = Check(host="127.0.0.1", port=1, username="u", password="right", sender=None, starttls=False)
    verdict = run_check(check, trust, timeout=5)
    assert verdict.failed == Step.STARTTLS and "no password is sent without it" in verdict.why


def test_a_server_without_auth_login_is_named_as_such(trust: ssl.SSLContext) -> None:
    handler = Handler()
    for port in serve(handler, auth_exclude_mechanism=["LOGIN"]):
        verdict = run_check(probe(port), trust, timeout=5)
    assert verdict.failed == Step.AUTH and verdict.exit_code == 5
    assert verdict.why == "the server does not offer AUTH LOGIN (it offers: PLAIN)"
    assert handler.logins == []


def test_a_refused_login_gives_the_servers_answer_on_one_plain_line(trust: ssl.SSLContext) -> None:
    handler = Handler(refusal="535 5.7.3 \x1b[2J\x1b[31mAuthentication unsuccessful")
    for port in serve(handler, auth_exclude_mechanism=["PLAIN"]):
        verdict = run_check(probe(port, password="wrong"), trust, timeout=5)
    assert verdict.failed == Step.AUTH
    assert verdict.why.startswith("535 5.7.3") and "\x1b" not in verdict.why
    assert "wrong" not in verdict.why
    assert handler.logins == [("acs.app.tenant", "wrong")], "sent once, inside TLS"


def test_a_password_that_auth_login_cannot_carry_is_not_sent(trust: ssl.SSLContext) -> None:
    handler = Handler()
    for port in serve(handler, auth_exclude_mechanism=["PLAIN"]):
        verdict = run_check(probe(port, password="pässword"), trust, timeout=5)
    assert verdict.failed == Step.AUTH and "not ASCII" in verdict.why and "ä" not in verdict.why
    assert handler.logins == []


def test_the_sender_is_part_of_the_proof(trust: ssl.SSLContext) -> None:
    handler = Handler()
    for port in serve(handler, auth_exclude_mechanism=["PLAIN"]):
        refused = run_check(probe(port, sender="ceo@elsewhere.example"), trust, timeout=5)
        missing = run_check(probe(port, sender=None), trust, timeout=5)
        forged = run_check(probe(port, sender="a@mail.example\r\nRCPT TO:<x@y>"), trust, timeout=5)
    assert refused.failed == Step.MAIL_FROM and refused.exit_code == 6
    assert refused.why == "<ceo@elsewhere.example> refused: 550 5.7.1 Sender address is not on a linked domain"
    assert missing.failed == Step.MAIL_FROM and "give --from" in missing.why
    assert forged.failed == Step.MAIL_FROM and "not an address SMTP can carry" in forged.why


def test_an_untrusted_certificate_stops_before_the_login() -> None:
    handler = Handler()
    for port in serve(handler, auth_exclude_mechanism=["PLAIN"]):
        verdict = run_check(probe(port), ssl.create_default_context(), timeout=5)
    assert verdict.failed == Step.STARTTLS and verdict.why.startswith("the server's certificate is not trusted")
    assert handler.logins == []


def test_nothing_listening_fails_at_connect(trust: ssl.SSLContext) -> None:
    verdict = run_check(probe(free_port()), trust, timeout=5)
    assert verdict.failed == Step.CONNECT and verdict.exit_code == 3 and "could not be reached" in verdict.why
