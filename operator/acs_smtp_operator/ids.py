"""ARM resource ids in one canonical spelling, for every comparison the operator makes.

ARM ids are case-insensitive, may arrive percent-encoded, with a trailing slash, and ARM itself spells a role
assignment's GUID without dashes (`RoleAssignmentExists` names the existing one so). Two spellings of one id
must never be taken for two objects: "is this assignment another credential's?" is asked with `canonical`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["canonical", "dashed_guid", "same_id"]

_HEX32 = re.compile(r"[0-9a-f]{32}")


def dashed_guid(text: str) -> str:
    """A GUID in its usual form: lower case, dashed (32 hex digits without dashes are given them)."""
    low = text.strip().lower()
    if _HEX32.fullmatch(low):
        return f"{low[:8]}-{low[8:12]}-{low[12:16]}-{low[16:20]}-{low[20:]}"
    return low


_GUID_AFTER = {"subscriptions", "roleassignments", "roledefinitions"}  # segments whose next one is a GUID


def canonical(resource_id: str) -> str:
    """One spelling of an ARM id: percent-decoded, lower case, without a trailing slash, the GUIDs ARM reads as
    GUIDs (a subscription, a role assignment's or definition's name) dashed; a resource group or resource named
    with 32 hex digits stays as it is. Not a validation: an id that is not well formed stays as distinct."""
    parts = unquote(resource_id).strip().lower().rstrip("/").split("/")
    return "/".join(
        dashed_guid(part) if at > 0 and parts[at - 1] in _GUID_AFTER else part for at, part in enumerate(parts)
    )


def same_id(a: str | None, b: str | None) -> bool:
    """Do two ids name one object (None names nothing)?"""
    return a is not None and b is not None and canonical(a) == canonical(b)
