"""Golden values: the names every live installation's Azure objects and Secrets already carry.

Each value was computed by the operator as released before these names moved into `identity.py`;
a change here orphans roles, assignments, client secrets and smtpUsernames in running clusters.
"""

from __future__ import annotations

import re

import pytest

from acs_smtp_operator import vocabulary
from acs_smtp_operator.identity import (
    assignment_guid,
    key_marker,
    legacy_smtp_username_resource,
    role_definition_id,
    role_guid,
    secret_name,
    smtp_username_entry,
    smtp_username_resource,
)

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
ACS = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/mail"
    "/providers/Microsoft.Communication/communicationServices/shop-acs"
)
ROLE_ID = (
    f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
    "66c6db95-113e-56f4-aa22-f88a7f006d84"
)


def test_the_custom_role_id_depends_on_tenant_and_name_only_not_on_its_case() -> None:
    assert role_guid(TENANT, "ACS SMTP Sender") == "66c6db95-113e-56f4-aa22-f88a7f006d84"
    assert role_guid(TENANT, "acs smtp sender") == "66c6db95-113e-56f4-aa22-f88a7f006d84"


def test_a_role_created_at_subscription_scope_has_the_arm_id_azure_gives_it() -> None:
    assert role_definition_id(SUBSCRIPTION, role_guid(TENANT, "ACS SMTP Sender")) == ROLE_ID


def test_the_role_assignment_id_depends_on_resource_role_and_principal() -> None:
    principal = "9a3c1e2f-0000-4000-8000-00000000abcd"
    assert assignment_guid(ACS, ROLE_ID, principal) == "8ff0a550-5137-5a8f-9f2d-747b1e8c5565"
    assert assignment_guid(ACS.upper(), ROLE_ID.upper(), principal.upper()) == "8ff0a550-5137-5a8f-9f2d-747b1e8c5565"


def test_client_secrets_are_marked_with_namespace_name_and_uid_prefix() -> None:
    marker = key_marker("shop", "shop-mailer", "5d9e0a7c-1111-4222-8333-944444444444")
    assert marker == "acs-smtp-operator shop/shop-mailer 5d9e0a7c"


UID = "5d9e0a7c-1111-4222-8333-944444444444"


@pytest.mark.parametrize(
    ("namespace", "name", "uid", "resource"),
    [
        ("shop", "shop-mailer", UID, "acssmtp-shop-mailer-242a628ff9ce9cb3649c06cc4a5452b0"),
        (
            "billing",
            "Weird_Name.with.dots-and-a-very-long-tail-that-goes-on-and-on",
            "0c1d2e3f-aaaa-4bbb-8ccc-dddddddddddd",
            "acssmtp-Weird-Name-with-dots-and-a-very-long-tai-d1334ed0186f9bcde55e697c5dfbc252",
        ),
    ],
)
def test_the_smtp_username_resource_name_is_fixed_per_credential(
    namespace: str, name: str, uid: str, resource: str
) -> None:
    assert smtp_username_resource(namespace, name, uid) == resource
    assert re.fullmatch(r"[a-zA-Z0-9-]{1,253}", resource)  # ARM's pattern for the resource name


def test_the_entry_name_carries_128_bits_a_tenant_cannot_choose() -> None:
    """Names sharing 40 characters, or the same namespace and name recreated, never share an entry; the uid the
    API server chose is hashed into 32 hex digits."""
    shared = "a" * 40
    first = smtp_username_resource("shop", shared + "-one", UID)
    second = smtp_username_resource("shop", shared + "-two", UID)
    again = smtp_username_resource("shop", shared + "-one", "0c1d2e3f-aaaa-4bbb-8ccc-dddddddddddd")
    assert len({first, second, again}) == 3
    assert all(len(n.rsplit("-", 1)[1]) == 32 for n in (first, second, again))


def test_a_credential_keeps_the_legacy_entry_its_status_records_and_only_that_one() -> None:
    legacy = legacy_smtp_username_resource("shop", "shop-mailer")
    assert legacy == "acssmtp-shop-mailer-1ef61c6d8bb2"  # what 0.1.0 named it: live entries keep their logins
    assert smtp_username_entry("shop", "shop-mailer", UID, legacy) == legacy
    fresh = smtp_username_resource("shop", "shop-mailer", UID)
    assert smtp_username_entry("shop", "shop-mailer", UID, None) == fresh
    # Status naming any other entry (another credential's legacy name) is not followed.
    assert smtp_username_entry("shop", "shop-mailer", UID, "acssmtp-shop-mailer2-0123456789ab") == fresh


def test_the_secret_is_named_after_the_credential_unless_the_spec_names_it() -> None:
    assert secret_name("shop-mailer", None) == "shop-mailer-smtp"
    assert secret_name("shop-mailer", "mail") == "mail"


def test_the_annotations_labels_and_finalizer_keep_their_names() -> None:
    assert (vocabulary.GROUP, vocabulary.VERSION, vocabulary.KIND, vocabulary.PLURAL) == (
        "acssmtp.io",
        "v1alpha1",
        "AcsSmtpCredential",
        "acssmtpcredentials",
    )
    assert [vocabulary.KEY_ID, vocabulary.NOT_AFTER, vocabulary.CLIENT_ID, vocabulary.RESOURCE] == [
        "acssmtp.io/key-id",
        "acssmtp.io/not-after",
        "acssmtp.io/client-id",
        "acssmtp.io/communication-service",
    ]
    assert vocabulary.ROTATE == "acssmtp.io/rotate"
    assert vocabulary.RESTARTED_AT == "acssmtp.io/restartedAt"
    assert vocabulary.MANAGED_BY == {"app.kubernetes.io/managed-by": "acs-smtp-operator"}
    assert vocabulary.FINALIZER == "acssmtp.io/finalizer"
