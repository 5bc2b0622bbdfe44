"""`secret.template.data`: the placeholder syntax renders what users write, and refuses all else by its key."""

from __future__ import annotations

import urllib.parse

import pytest

from acs_smtp_operator.smtp import secret_data
from acs_smtp_operator.template import TemplateError, needs, parse, render_all

APP, TENANT = "0b1f3a52-5c37-4fd2-9f44-3d2c6b1b6f0e", "7f4c1f5e-0000-4000-8000-000000000001"
PASSWORD = "p@ss:w/rd.~8Q~" + "Z" * 26
VALUES = secret_data(f"acs|{APP}|{TENANT}", PASSWORD, "smtp.azurecomm.net", 587, "DoNotReply@shop.example.com")


def test_a_url_key_percent_encodes_what_a_username_and_password_contain() -> None:
    rendered = render_all({"SMTP_URL": "smtp://{{ username|urlquote }}:{{password | urlquote}}@{{ host }}"}, VALUES)
    url = urllib.parse.urlsplit(rendered["SMTP_URL"])
    assert urllib.parse.unquote(url.username or "") == VALUES["username"]
    assert urllib.parse.unquote(url.password or "") == PASSWORD
    assert url.hostname == "smtp.azurecomm.net"


def test_every_secret_key_can_be_used_and_literal_text_is_kept() -> None:
    text = "{{ username }} {{ password }} {{ host }}:{{ port }} tls={{ starttls }} from={{ from }} {not a placeholder}"
    rendered = render_all({"ALL": text}, VALUES)["ALL"]
    assert rendered == (
        f"{VALUES['username']} {PASSWORD} smtp.azurecomm.net:587 tls=true from=DoNotReply@shop.example.com "
        "{not a placeholder}"
    )


HOSTILE = [
    ("an unknown value", "{{ secret_value }}", "'secret_value' is not one of"),
    ("item access, which in Jinja put the value in the error", "{{ {}[password] }}", "is not a placeholder"),
    ("a multiplication bomb", "{{ 'x' * 10**9 }}", "is not a placeholder"),
    ("a loop", "{% for i in range(10**6) %}{{ password }}{% endfor %}", "statements and comments"),
    ("a comment", "{# hi #}", "statements and comments"),
    ("attribute access", "{{ password.__class__ }}", "is not a placeholder"),
    ("another filter", "{{ password|upper }}", "filter 'upper' is unknown"),
    ("an unclosed placeholder", "{{ username ", "is not a placeholder"),
]


@pytest.mark.parametrize(("case", "text", "said"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_anything_beyond_placeholders_is_refused_by_key_before_rendering(case: str, text: str, said: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse("X", text)
    assert str(info.value).startswith("secret.template.data['X']: ") and said in str(info.value)
    assert PASSWORD not in str(info.value)


def test_braces_that_are_not_placeholders_stay_literal() -> None:
    assert render_all({"JSON": '{"user": "{{ username }}", "tls": {"on": true}}'}, VALUES)["JSON"] == (
        f'{{"user": "{VALUES["username"]}", "tls": {{"on": true}}}}'
    )


def test_from_without_a_sender_is_named_not_rendered_empty() -> None:
    assert needs({"A": "{{ from }}", "B": "{{ host|urlquote }}"}) == {"from", "host"}
    with pytest.raises(TemplateError) as info:
        render_all({"FROM": "{{ from }}"}, secret_data("u", PASSWORD, "h", 1, None))
    assert "uses {{ from }}, which this Secret does not hold" in str(info.value)


def test_output_grows_only_with_the_template_itself() -> None:
    """No construct repeats a value: n placeholders give at most n values' worth of output."""
    text = "{{ password }}" * 1000
    assert len(render_all({"X": text}, VALUES)["X"]) == 1000 * len(PASSWORD)
