"""Every name the operator writes into Kubernetes: API group, kind, annotations, labels, the finalizer."""

from __future__ import annotations

__all__ = [
    "API_VERSION",
    "CLIENT_ID",
    "FINALIZER",
    "GROUP",
    "KEY_ID",
    "KIND",
    "MANAGED_BY",
    "NOT_AFTER",
    "ORPHANED_AT",
    "ORPHANED_FROM",
    "ORPHANED_UID",
    "PLURAL",
    "POLICY_KIND",
    "POLICY_PLURAL",
    "PREFIX",
    "RESOURCE",
    "RESTARTED_AT",
    "REVOKE",
    "ROTATE",
    "SECRET_TYPE",
    "VERSION",
]

PREFIX = "acssmtp.io"
GROUP, VERSION, PLURAL, KIND = PREFIX, "v1alpha1", "acssmtpcredentials", "AcsSmtpCredential"
API_VERSION = f"{GROUP}/{VERSION}"
# The administrator's cluster-scoped policy: which namespaces may use which application, resource and role.
POLICY_PLURAL, POLICY_KIND = "acssmtppolicies", "AcsSmtpPolicy"

# On the Secret: what it holds, so that it is the source of truth after a crash.
KEY_ID = f"{PREFIX}/key-id"
NOT_AFTER = f"{PREFIX}/not-after"
CLIENT_ID = f"{PREFIX}/client-id"
RESOURCE = f"{PREFIX}/communication-service"

# On a Secret a deleted credential left (`spec.secret.deletionPolicy: Orphan`): the credential's name and uid,
# and when. A new credential of that name in that namespace adopts the Secret and drops them.
ORPHANED_FROM = f"{PREFIX}/orphaned-from"
ORPHANED_UID = f"{PREFIX}/orphaned-uid"
ORPHANED_AT = f"{PREFIX}/orphaned-at"

# On the credential: a new value asks for a rotation (`acs-smtp-operator rotate`).
ROTATE = f"{PREFIX}/rotate"
# On the credential: a new value asks for an emergency revocation (`kubectl acssmtp rotate --revoke`): a new key
# now, whatever the least time between rotations, and the old ones removed as soon as the rollout completes.
REVOKE = f"{PREFIX}/revoke"

# On a restart target's pod template, as `kubectl rollout restart` does with its own key.
RESTARTED_AT = f"{PREFIX}/restartedAt"

# The type of every Secret the operator writes (a Secret's type cannot change once created).
SECRET_TYPE = "kubernetes.io/basic-auth"
# On every Secret the operator writes: what its Secret watch selects.
MANAGED_BY = {"app.kubernetes.io/managed-by": "acs-smtp-operator"}

# kopf's finalizer on the credential (kopf's progress and diff-base annotations use PREFIX too).
FINALIZER = f"{PREFIX}/finalizer"
