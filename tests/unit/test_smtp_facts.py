"""Pure SMTP facts: usernames, the Secret's data, template keys."""

import urllib.parse

import pytest

from acs_smtp_operator.observed import SenderDomain
from acs_smtp_operator.smtp import (
    TemplateRenderError,
    compose_username,
    on_linked_domain,
    render_template_data,
    secret_data,
    sender_address,
)

MANAGED = SenderDomain("AzureManagedDomain", "3f7c2c1e-8d5e-4d1b-a3a8-0c9f2b6e1d42.azurecomm.net")
CUSTOM = SenderDomain("mail.shop.example.com", "mail.shop.example.com")
UNVERIFIED = SenderDomain("pending.example.com", "pending.example.com", (("SPF", "VerificationFailed"),))

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
        ((SenderDomain("odd", None),), None),
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


def test_a_url_key_percent_encodes_what_a_username_and_password_contain() -> None:
    data = secret_data(f"acs|{APP}|{TENANT}", "p@ss:w/rd.~", "smtp.azurecomm.net", 587, None)
    rendered = render_template_data(
        {"SMTP_URL": "smtp://{{ username|urlquote }}:{{ password|urlquote }}@{{ host }}"}, data
    )
    url = urllib.parse.urlsplit(rendered["SMTP_URL"])
    assert urllib.parse.unquote(url.username or "") == data["username"]
    assert urllib.parse.unquote(url.password or "") == "p@ss:w/rd.~"
    assert url.hostname == "smtp.azurecomm.net"
    assert "from" not in data, "no sender without a linked domain"


def test_a_template_naming_an_unknown_value_is_refused_without_values_in_the_message() -> None:
    with pytest.raises(TemplateRenderError) as info:
        render_template_data({"X": "{{ secret_value }}"}, secret_data("u", "hunter2", "h", 1, None))
    assert "secret.template.data['X']" in str(info.value) and "hunter2" not in str(info.value)
