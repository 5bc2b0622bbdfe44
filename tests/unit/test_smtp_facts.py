"""Pure SMTP facts: usernames, the Secret's data, template keys."""

import pytest

from acs_smtp_operator.observed import SenderDomain
from acs_smtp_operator.smtp import (
    compose_username,
    envelope_sender,
    on_linked_domain,
    sender_address,
)

MANAGED = SenderDomain(name="AzureManagedDomain", sender="3f7c2c1e-8d5e-4d1b-a3a8-0c9f2b6e1d42.azurecomm.net")
CUSTOM = SenderDomain(name="mail.shop.example.com", sender="mail.shop.example.com")
UNVERIFIED = SenderDomain(
    name="pending.example.com", sender="pending.example.com", unverified=(("SPF", "VerificationFailed"),)
)

APP, TENANT = "76d25cdf-e868-5455-9d98-19efb79681a0", "4abb8796-9bb8-51dc-85b5-1cf66481263e"


def test_usernames_in_each_format() -> None:
    assert compose_username("Dot", "acs", APP, TENANT) == f"acs.{APP}.{TENANT}"
    assert compose_username("Pipe", "acs", APP, TENANT) == f"acs|{APP}|{TENANT}"
    assert compose_username("SmtpUsername", "acs", APP, TENANT, "mailer@shop.example") == "mailer@shop.example"


@pytest.mark.parametrize(
    ("username", "ok"),
    [
        ("mailer@mail.shop.example.com", True),
        ("mailer@MAIL.SHOP.EXAMPLE.COM", True),
        ("mailer@elsewhere.example", False),
        ("free-text-name", True),
    ],
    ids=["a linked domain", "a linked domain in capitals", "another domain", "free text"],
)
def test_email_usernames_must_be_on_a_linked_domain(username: str, ok: bool) -> None:
    assert on_linked_domain(username, [CUSTOM]) is ok


def test_an_azure_managed_domain_is_known_by_its_sender_domain_never_its_resource_name() -> None:
    assert on_linked_domain(f"mailer@{MANAGED.sender}", [MANAGED])
    assert not on_linked_domain("mailer@AzureManagedDomain", [MANAGED])
    assert sender_address([MANAGED, CUSTOM]) == f"DoNotReply@{MANAGED.sender}"


@pytest.mark.parametrize(
    ("domains", "sender"),
    [
        ((UNVERIFIED, CUSTOM), "DoNotReply@mail.shop.example.com"),
        ((UNVERIFIED,), "DoNotReply@pending.example.com"),
        ((SenderDomain(name="odd", sender=None),), None),
        ((), None),
    ],
    ids=[
        "the first domain that can send, skipping an unverified one",
        "an unverified domain when it is all there is (the condition says why mail fails)",
        "no sender when the domain reports none",
        "no sender without a linked domain",
    ],
)
def test_the_sender_address(domains: tuple[SenderDomain, ...], sender: str | None) -> None:
    assert sender_address(domains) == sender


def test_the_from_header_is_on_the_p2_domain_and_the_envelope_on_p1() -> None:
    """DomainProperties (2025-09-01): fromSenderDomain is "displayed to the email recipients [RFC5322]",
    mailFromSenderDomain "present on the email envelope [RFC5321]". Equal in every published example, but two
    properties: the Secret's `from` takes the first, the operator's own SMTP proof (MAIL FROM) the second."""
    split = SenderDomain(name="contoso.com", sender="bounces.contoso.com", header="contoso.com")
    assert sender_address([split]) == "DoNotReply@contoso.com"
    assert envelope_sender([split]) == "DoNotReply@bounces.contoso.com"
    only_p1 = SenderDomain(name="legacy", sender="legacy.example")
    assert sender_address([only_p1]) == envelope_sender([only_p1]) == "DoNotReply@legacy.example"
