"""The sweep: client secrets of this cluster's credentials that no longer exist are removed.

A credential deleted without its finalizer (a tenant may remove it), a namespace force-deleted, an etcd
restored from a backup: the finalizer never ran, and the credential's client secrets would keep working until
they expire. The sweep, on the leader, every ACSSMTP_SWEEP_PERIOD:

- reads the applications any credential or policy names (and those it saw before);
- takes a key for stray when its display name is this operator's marker with *this cluster's* tag (64 bits of
  ACSSMTP_CLUSTER_ID, else of the kube-system namespace's uid; keys from before 0.2.0, with no tag, and another
  cluster's are never touched), in a namespace this installation serves, and no credential of that namespace,
  name and uid prefix is in the index;
- removes it once it has looked stray for ACSSMTP_ORPHAN_SETTLE and a fresh read of the credential confirms it
  is gone, with a log line and `acssmtp_stray_keys_removed_total`.

A cluster restored from another's etcd backup shares its kube-system uid: two such clusters sharing an
application must be told apart by ACSSMTP_CLUSTER_ID (or the sweep turned off, ACSSMTP_SWEEP_PERIOD=0), or each
would sweep the keys of the other's newer credentials.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from acs_smtp_operator.azure import passwords
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.identity import cluster_tag, parse_marker
from acs_smtp_operator.kube_secret import holds_key
from acs_smtp_operator.ledger import ledger_of
from acs_smtp_operator.model import Reason
from acs_smtp_operator.observed import Application
from acs_smtp_operator.ports import Ports
from acs_smtp_operator.status import Status
from acs_smtp_operator.vocabulary import MANAGED_BY

__all__ = ["Stray", "Sweeper", "cluster_tag", "settled", "strays"]

log = logging.getLogger(__name__)

Alive = tuple[str, str, str]  # namespace, name, uid prefix (8 hex digits)


@dataclass(frozen=True, kw_only=True)
class Stray:
    key_id: str
    namespace: str
    name: str
    uid: str  # its prefix, as the marker holds it


def strays(app: Application, cluster: str, served: Callable[[str], bool], alive: Collection[Alive]) -> list[Stray]:
    """The keys of `app` this cluster's operator added for a credential that is not (or no longer) there."""
    found = []
    for key in app.keys:
        parsed = parse_marker(key.display_name)
        if parsed is None or parsed[3] != cluster or not served(parsed[0]):
            continue
        if parsed[:3] not in alive:
            found.append(Stray(key_id=key.key_id, namespace=parsed[0], name=parsed[1], uid=parsed[2]))
    return found


def settled(
    found: Collection[str], seen: Mapping[str, datetime], now: datetime, settle: timedelta
) -> tuple[set[str], dict[str, datetime]]:
    """The stray keys that have looked stray for `settle` (since `seen` first noted them), and the first-seen
    times to keep: those of the keys still stray (one no longer stray starts again if it ever is)."""
    kept = {key: seen.get(key, now) for key in found}
    return {key for key, since in kept.items() if now - since >= settle}, kept


@dataclass(kw_only=True)
class Sweeper:
    ports: Ports
    known: Callable[[], tuple[set[str], set[Alive]]]  # application client ids, credentials that exist (the index)
    clock: Callable[[], datetime]
    watched: Collection[str] | None = None  # the namespaces served (None: all)
    apps: set[str] = field(default_factory=set)  # every application seen named: a vanished credential's too
    seen: dict[str, datetime] = field(default_factory=dict)  # stray key id -> first seen stray
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="stray key sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        period = self.ports.settings.sweep_period
        if not period:
            return  # turned off (ACSSMTP_SWEEP_PERIOD=0)
        while True:
            await asyncio.sleep(period)
            try:
                await self.sweep(self.clock())
            except Failure as exc:
                log.warning("the sweep for stray client secrets stopped: %s", exc.message)
            except Exception:  # a bug of ours: said, and the next round runs all the same
                log.exception("the sweep for stray client secrets failed")

    def _served(self, namespace: str) -> bool:
        return self.watched is None or namespace in self.watched

    async def sweep(self, now: datetime) -> int:
        """One round; the number of keys removed."""
        cluster = cluster_tag(self.ports.cluster)
        if cluster is None:
            return 0  # the cluster's id is unknown: no key can be told for this cluster's
        apps, alive = self.known()
        self.apps |= {a.lower() for a in apps}
        found: list[tuple[Application, Stray]] = []
        for client_id in sorted(self.apps):
            try:
                app = await passwords.find_application(self.ports.azure.graph, client_id)
            except Failure as exc:
                if exc.reason == Reason.APPLICATION_NOT_FOUND:
                    self.apps.discard(client_id)
                else:
                    log.warning("the sweep could not read application %s: %s", client_id, exc.message)
                continue
            found += [(app, stray) for stray in strays(app, cluster, self._served, alive)]
        settle = timedelta(seconds=self.ports.settings.orphan_settle)
        due, self.seen = settled([stray.key_id for _, stray in found], self.seen, now, settle)
        removed = 0
        for app, stray in found:
            if stray.key_id not in due or await self._exists(stray):
                continue
            await passwords.remove_password(self.ports.azure.graph, app.object_id, stray.key_id)
            self.seen.pop(stray.key_id, None)
            self.ports.metrics.swept.inc()
            removed += 1
            log.warning(
                "client secret %s removed from application %s: its AcsSmtpCredential %s/%s (uid %s…) no longer "
                "exists and was not finalized",
                stray.key_id,
                app.client_id,
                stray.namespace,
                stray.name,
                stray.uid,
            )
        return removed

    async def _exists(self, stray: Stray) -> bool:
        """A fresh read: the index may lag a credential created moments ago. A key is still needed, too, when a
        Secret of ours in that namespace holds it (one a deletion with `secret.deletionPolicy: Orphan` left, or
        that a new credential of the same name adopted), or that credential's ledger still moves it along."""
        found = await self.ports.kube.read_credential(stray.namespace, stray.name)
        uid = str(((found or {}).get("metadata") or {}).get("uid") or "")
        if found is not None and uid.startswith(stray.uid):
            return True
        if found is not None and stray.key_id in ledger_of(Status.read(found.get("status"))).referenced():
            return True
        selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
        return holds_key(await self.ports.kube.list_secrets(stray.namespace, selector), stray.key_id)
