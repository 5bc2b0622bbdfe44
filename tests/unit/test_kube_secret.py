"""The Secret the operator writes, and what it reads back from one."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from acs_smtp_operator.kube_secret import Content, owner_reference, same_secret, secret_view
from acs_smtp_operator.model import SecretTemplate

END = datetime(2027, 2, 26, 10, 0, tzinfo=UTC)


def content(**template: dict[str, str]) -> Content:
    return Content(
        namespace="shop",
        name="shop-smtp",
        owner=owner_reference("shop-mailer", "uid-1"),
        template=SecretTemplate(**template),
        client_id="app",
        resource_id="/acs",
        username="shop.app.tenant",
        host="smtp.azurecomm.net",
        port=587,
        sender="DoNotReply@mail.example.com",
    )


def test_the_secret_holds_the_smtp_settings_and_says_which_key_it_holds() -> None:
    body = content(labels={"team": "shop"}).body("s3cret", "k1", END)
    data = {k: base64.b64decode(v).decode() for k, v in body["data"].items()}
    assert data == {
        "username": "shop.app.tenant",
        "password": "s3cret",
        "host": "smtp.azurecomm.net",
        "port": "587",
        "starttls": "true",
        "from": "DoNotReply@mail.example.com",
    }
    assert body["type"] == "kubernetes.io/basic-auth"
    notes = body["metadata"]["annotations"]
    assert notes["acssmtp.io/key-id"] == "k1" and notes["acssmtp.io/not-after"] == "2027-02-26T10:00:00Z"
    assert body["metadata"]["labels"] == {"team": "shop", "app.kubernetes.io/managed-by": "acs-smtp-operator"}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_a_written_secret_read_back_is_ours_and_names_its_key_but_never_shows_the_password() -> None:
    body = content().body("s3cret", "k1", END)
    view = secret_view(body, "uid-1")
    assert view is not None and view.owned and view.state.key_id == "k1" and view.state.has_password
    assert view.state.not_after == END and "s3cret" not in repr(view)
    assert secret_view(body, "someone-else") is not None and not secret_view(body, "someone-else").owned  # type: ignore[union-attr]


def test_a_secret_equal_in_data_and_metadata_needs_no_write() -> None:
    body = content().body("s3cret", "k1", END)
    assert same_secret(body, content().body("s3cret", "k1", END))
    assert not same_secret(body, content().body("other", "k1", END))
    assert not same_secret(body, content(annotations={"note": "x"}).body("s3cret", "k1", END))
