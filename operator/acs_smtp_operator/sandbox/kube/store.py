"""The emulated API server's object store: the semantics of kube-apiserver without HTTP.

resourceVersions, uid, generation, optimistic concurrency, the status
subresource, finalizers and deletionTimestamp, ownerReference garbage
collection, `stringData`, CRD registration with schema validation, and a
bounded event history so that watches can resume from a resourceVersion.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from acs_smtp_operator.sandbox.kube import schema as schemas
from acs_smtp_operator.sandbox.kube.patching import PatchError, apply_patch

__all__ = ["CRD_RESOURCE", "ApiError", "Event", "ResourceType", "Store", "Watcher"]

CRD_RESOURCE = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
NAMESPACES = ("", "v1", "namespaces")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HISTORY = 4096
GC_DELAY = 0.2  # seconds between an owner's removal and its dependents' (asynchronous, as in a cluster)

Key = tuple[str, str, str]  # group, version, plural


class ApiError(Exception):
    """A failure kube-apiserver would answer with a `Status` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    status_subresource: bool = False
    schema: dict[str, Any] | None = None
    custom: bool = False  # defined by a CRD (no strategic merge patch, like the real server)
    columns: list[dict[str, Any]] | None = None  # additionalPrinterColumns

    @property
    def key(self) -> Key:
        return (self.group, self.version, self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def tracks_generation(self) -> bool:
        return self.group != ""


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    object: dict[str, Any]


@dataclass
class Watcher:
    key: Key
    namespace: str | None
    accepts: Callable[[dict[str, Any]], bool]
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    assert isinstance(meta, dict)
    return meta


class Store:
    def __init__(self, on_types_changed: Callable[[Store], None] | None = None) -> None:
        self.types: dict[Key, ResourceType] = {}
        self.objects: dict[Key, dict[tuple[str, str], dict[str, Any]]] = {}
        self.history: dict[Key, deque[Event]] = {}
        self.watchers: list[Watcher] = []
        self.rv = 0
        self._on_types_changed = on_types_changed
        self.listeners: list[Callable[[ResourceType, dict[str, Any]], None]] = []  # told of every stored write

    # -- types ----------------------------------------------------------------------------------

    def register(self, rtype: ResourceType) -> None:
        self.types[rtype.key] = rtype
        self.objects.setdefault(rtype.key, {})
        self.history.setdefault(rtype.key, deque(maxlen=_HISTORY))

    def rtype(self, key: Key) -> ResourceType:
        if key not in self.types:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return self.types[key]

    # -- reads ----------------------------------------------------------------------------------

    def get(self, key: Key, namespace: str | None, name: str) -> dict[str, Any]:
        rtype = self.rtype(key)
        obj = self.objects[key].get((namespace or "", name))
        if obj is None:
            raise ApiError(
                404,
                "NotFound",
                f'{rtype.qualified} "{name}" not found',
                {"name": name, "group": rtype.group, "kind": rtype.plural},
            )
        return copy.deepcopy(obj)

    def select(
        self, key: Key, namespace: str | None, accepts: Callable[[dict[str, Any]], bool]
    ) -> list[dict[str, Any]]:
        self.rtype(key)
        return [
            copy.deepcopy(o)
            for (ns, _), o in sorted(self.objects[key].items())
            if (namespace is None or ns == namespace) and accepts(o)
        ]

    def events_since(self, key: Key, rv: int) -> list[Event] | None:
        """Events after `rv`, or None when the history no longer reaches back that far (410 Gone)."""
        history = self.history[key]
        truncated = len(history) == history.maxlen
        if truncated and rv < history[0].rv - 1:
            return None
        return [e for e in history if e.rv > rv]

    # -- writes ---------------------------------------------------------------------------------

    def create(self, key: Key, namespace: str | None, body: Any, strict: bool = False) -> dict[str, Any]:
        rtype = self.rtype(key)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        obj = copy.deepcopy(body)
        meta = _meta(obj)
        self._check_kind(rtype, obj)
        ns = self._namespace_of(rtype, namespace, meta)
        if rtype.namespaced and ("", ns) not in self.objects.get(NAMESPACES, {}):
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        name = meta.get("name") or ""
        self._check_name(rtype, name)
        if (ns, name) in self.objects[key]:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{rtype.qualified} "{name}" already exists',
                {"name": name, "group": rtype.group, "kind": rtype.plural},
            )
        for volatile in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(volatile, None)
        if rtype.namespaced:
            meta["namespace"] = ns
        if rtype.status_subresource:
            obj.pop("status", None)
        obj = self._admit(rtype, obj, None, strict)
        meta = _meta(obj)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if rtype.tracks_generation:
            meta["generation"] = 1
        self._store(rtype, ns, name, obj, "ADDED")
        if key == CRD_RESOURCE:
            self._crd_changed(obj)
        self._later(self._collect_orphan, rtype, ns, name)
        return copy.deepcopy(self.objects[key][(ns, name)])

    def replace(
        self, key: Key, namespace: str | None, name: str, body: Any, subresource: str | None, strict: bool = False
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        current = self.get(key, namespace, name)
        wanted_rv = _meta(body).get("resourceVersion")
        if wanted_rv and str(wanted_rv) != current["metadata"]["resourceVersion"]:
            raise self._conflict(key, name)
        return self._update(key, namespace, name, current, copy.deepcopy(body), subresource, strict)

    def patch(
        self,
        key: Key,
        namespace: str | None,
        name: str,
        content_type: str,
        patch: Any,
        subresource: str | None,
        strict: bool = False,
    ) -> dict[str, Any]:
        rtype = self.rtype(key)
        current = self.get(key, namespace, name)
        if content_type.startswith("application/apply-patch"):
            raise ApiError(415, "UnsupportedMediaType", "server-side apply is not supported by this emulator")
        if content_type.startswith("application/strategic-merge-patch") and rtype.custom:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml",
            )
        try:
            patched = apply_patch(content_type, current, patch)
        except PatchError as exc:
            raise ApiError(
                422 if exc.test_failed else 400, "Invalid" if exc.test_failed else "BadRequest", str(exc)
            ) from exc
        wanted_rv = _meta(patched).get("resourceVersion")
        if wanted_rv and str(wanted_rv) != current["metadata"]["resourceVersion"]:
            raise self._conflict(key, name)
        return self._update(key, namespace, name, current, patched, subresource, strict)

    def delete(self, key: Key, namespace: str | None, name: str, propagation: str | None = None) -> dict[str, Any]:
        rtype = self.rtype(key)
        current = self.get(key, namespace, name)
        meta = _meta(current)
        ns = (namespace or "") if rtype.namespaced else ""
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = _now()
                meta["deletionGracePeriodSeconds"] = 0
                if propagation == "Orphan":
                    meta["finalizers"] = [*meta["finalizers"], "orphan"]
                self._store(rtype, ns, name, current, "MODIFIED")
            return copy.deepcopy(self.objects[key][(ns, name)])
        return self._remove(rtype, ns, name, orphan=propagation == "Orphan")

    # -- internals ------------------------------------------------------------------------------

    def _update(
        self,
        key: Key,
        namespace: str | None,
        name: str,
        current: dict[str, Any],
        wanted: dict[str, Any],
        subresource: str | None,
        strict: bool = False,
    ) -> dict[str, Any]:
        rtype = self.rtype(key)
        ns = (namespace or "") if rtype.namespaced else ""
        meta, new_meta = _meta(current), _meta(wanted)
        for fixed in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "name",
            "namespace",
        ):
            if fixed in meta:
                new_meta[fixed] = meta[fixed]
            else:
                new_meta.pop(fixed, None)
        new_meta["resourceVersion"] = meta["resourceVersion"]
        if meta.get("deletionTimestamp"):
            added = set(new_meta.get("finalizers") or []) - set(meta.get("finalizers") or [])
            if added:
                raise ApiError(
                    422,
                    "Invalid",
                    f'{rtype.qualified} "{name}" is invalid: metadata.finalizers: '
                    "Forbidden: no new finalizers can be added if the object is being deleted",
                    {"name": name, "group": rtype.group, "kind": rtype.kind},
                )
        if subresource == "status":
            wanted = {**current, "status": wanted.get("status")}
            if wanted["status"] is None:
                wanted.pop("status")
        elif subresource:
            raise ApiError(404, "NotFound", f"subresource {subresource!r} is not supported")
        elif rtype.status_subresource:
            wanted = {k: v for k, v in wanted.items() if k != "status"}
            if "status" in current:
                wanted["status"] = current["status"]
        if rtype.kind != "Secret":
            wanted.pop("stringData", None)
        wanted = self._admit(rtype, wanted, current, strict)
        if wanted == current:
            return copy.deepcopy(current)
        changed_body = {k: v for k, v in wanted.items() if k not in ("metadata", "status")} != {
            k: v for k, v in current.items() if k not in ("metadata", "status")
        }
        status_counts = not rtype.status_subresource and wanted.get("status") != current.get("status")
        if rtype.tracks_generation and (changed_body or status_counts):
            _meta(wanted)["generation"] = int(meta.get("generation", 1)) + 1
        if _meta(wanted).get("deletionTimestamp") and not _meta(wanted).get("finalizers"):
            self.objects[key][(ns, name)] = wanted
            return self._remove(rtype, ns, name, orphan=False)
        self._store(rtype, ns, name, wanted, "MODIFIED")
        if key == CRD_RESOURCE:
            self._crd_changed(wanted)
        return copy.deepcopy(self.objects[key][(ns, name)])

    def _admit(
        self, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, strict: bool = False
    ) -> dict[str, Any]:
        """Mutate and validate as the API server's admission does for this type."""
        if rtype.kind == "Secret":
            obj = _secret_admission(obj)
        if rtype.key == NAMESPACES:
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
            # The API server sets this label on every namespace and keeps it equal to the name (since 1.21).
            meta = _meta(obj)
            meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta.get("name", "")}
        if rtype.key == CRD_RESOURCE:
            _validate_crd(obj)
        if rtype.schema is not None:
            pruned = schemas.prune(rtype.schema, obj)
            unknown = schemas.unknown_fields(obj, pruned)
            if strict and unknown:
                raise ApiError(
                    400, "BadRequest", "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown)
                )
            obj = schemas.apply_defaults(rtype.schema, pruned)
            causes = schemas.check(rtype.schema, obj, old)
            if causes:
                name = _meta(obj).get("name", "")
                text = causes[0].message if len(causes) == 1 else "[" + ", ".join(c.message for c in causes) + "]"
                raise ApiError(
                    422,
                    "Invalid",
                    f'{rtype.kind}.{rtype.group} "{name}" is invalid: {text}',
                    {"name": name, "group": rtype.group, "kind": rtype.kind, "causes": [c.to_json() for c in causes]},
                )
        return obj

    def _store(self, rtype: ResourceType, ns: str, name: str, obj: dict[str, Any], kind: str) -> None:
        self.rv += 1
        _meta(obj)["resourceVersion"] = str(self.rv)
        self.objects[rtype.key][(ns, name)] = obj
        self._emit(rtype, Event(self.rv, kind, copy.deepcopy(obj)))
        for listener in self.listeners:
            listener(rtype, obj)

    def _remove(self, rtype: ResourceType, ns: str, name: str, orphan: bool) -> dict[str, Any]:
        obj = self.objects[rtype.key].pop((ns, name))
        self.rv += 1
        _meta(obj)["resourceVersion"] = str(self.rv)
        self._emit(rtype, Event(self.rv, "DELETED", copy.deepcopy(obj)))
        if rtype.key == CRD_RESOURCE:
            self._crd_removed(obj)
        if rtype.key == NAMESPACES:
            self._empty_namespace(name)
        self._later(
            self._collect_dependents, _meta(obj)["uid"], orphan or "orphan" in (_meta(obj).get("finalizers") or [])
        )
        return obj

    def _emit(self, rtype: ResourceType, event: Event) -> None:
        self.history[rtype.key].append(event)
        for watcher in self.watchers:
            if watcher.key != rtype.key:
                continue
            ns = event.object.get("metadata", {}).get("namespace")
            if watcher.namespace is not None and ns != watcher.namespace:
                continue
            if watcher.accepts(event.object):
                watcher.queue.put_nowait(event)

    def _empty_namespace(self, namespace: str) -> None:
        """A deleted namespace takes its objects with it (finalizers are not waited for)."""
        for key, objects in list(self.objects.items()):
            for ns, name in [k for k in objects if k[0] == namespace]:
                if (ns, name) in self.objects.get(key, {}):
                    self.objects[key][(ns, name)]["metadata"].pop("finalizers", None)
                    self._remove(self.types[key], ns, name, orphan=False)

    def ensure_namespace(self, name: str) -> None:
        if ("", name) not in self.objects.get(NAMESPACES, {}):
            self.create(NAMESPACES, None, {"metadata": {"name": name}})

    def _later(self, work: Callable[..., None], *args: Any) -> None:
        """The garbage collector runs apart from the request, as kube-controller-manager's does."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            work(*args)
            return

        def collect() -> None:
            with contextlib.suppress(ApiError):
                work(*args)

        loop.call_later(GC_DELAY, collect)

    def _all_uids(self) -> set[str]:
        return {o["metadata"]["uid"] for objs in self.objects.values() for o in objs.values()}

    def _collect_dependents(self, owner_uid: str, orphan: bool) -> None:
        """The garbage collector: dependents whose every owner is gone are deleted (or orphaned)."""
        uids = self._all_uids()
        for key, objects in list(self.objects.items()):
            for (ns, name), obj in list(objects.items()):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == owner_uid for r in refs):
                    continue
                if orphan:
                    kept = [r for r in refs if r.get("uid") != owner_uid]
                    self.patch(
                        key,
                        ns or None,
                        name,
                        "application/merge-patch+json",
                        {"metadata": {"ownerReferences": kept or None}},
                        None,
                    )
                elif not any(r.get("uid") in uids for r in refs) and (ns, name) in objects:
                    self.delete(key, ns or None, name)

    def _collect_orphan(self, rtype: ResourceType, ns: str, name: str) -> None:
        """An object created with owner references that all point nowhere is collected."""
        if (ns, name) not in self.objects.get(rtype.key, {}):
            return
        refs = self.objects[rtype.key][(ns, name)]["metadata"].get("ownerReferences") or []
        if refs and not any(r.get("uid") in self._all_uids() for r in refs):
            self.delete(rtype.key, ns or None, name)

    def _conflict(self, key: Key, name: str) -> ApiError:
        rtype = self.rtype(key)
        return ApiError(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {rtype.qualified} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again",
            {"name": name, "group": rtype.group, "kind": rtype.plural},
        )

    def _check_kind(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        if obj.get("kind") not in (None, rtype.kind) or obj.get("apiVersion") not in (None, rtype.api_version):
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({obj.get('apiVersion')}) and kind "
                f"({obj.get('kind')}) do not match the request ({rtype.api_version}, {rtype.kind})",
            )
        obj["kind"], obj["apiVersion"] = rtype.kind, rtype.api_version

    def _namespace_of(self, rtype: ResourceType, namespace: str | None, meta: dict[str, Any]) -> str:
        if not rtype.namespaced:
            return ""
        body_ns = meta.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        ns = namespace or body_ns or ""
        if not ns:
            raise ApiError(400, "BadRequest", "the server could not find the namespace of the object")
        return str(ns)

    def _check_name(self, rtype: ResourceType, name: str) -> None:
        if not name:
            raise ApiError(
                422,
                "Invalid",
                f'{rtype.kind} "" is invalid: metadata.name: Required value: name or generateName is required',
                {
                    "kind": rtype.kind,
                    "causes": [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: name or generateName is required",
                            "field": "metadata.name",
                        }
                    ],
                },
            )
        if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            detail = (
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            )
            raise ApiError(
                422,
                "Invalid",
                f'{rtype.kind} "{name}" is invalid: metadata.name: {detail}',
                {
                    "name": name,
                    "kind": rtype.kind,
                    "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": "metadata.name"}],
                },
            )

    # -- CustomResourceDefinitions --------------------------------------------------------------

    def _crd_changed(self, crd: dict[str, Any]) -> None:
        for rtype in _crd_types(crd):
            self.register(rtype)
        ns, name = "", _meta(crd)["name"]
        stored = self.objects[CRD_RESOURCE][(ns, name)]
        names = crd["spec"]["names"]
        stored["status"] = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
            "conditions": [
                {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": _now()}
                for t, r, m in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                )
            ],
        }
        if self._on_types_changed:
            self._on_types_changed(self)

    def _crd_removed(self, crd: dict[str, Any]) -> None:
        for rtype in _crd_types(crd):
            self.types.pop(rtype.key, None)
            self.objects.pop(rtype.key, None)
        if self._on_types_changed:
            self._on_types_changed(self)


def _secret_admission(obj: dict[str, Any]) -> dict[str, Any]:
    """`stringData` folds into `data` (base64), as the API server does for Secrets."""
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = dict(obj.get("data") or {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data
    for k, v in (obj.get("data") or {}).items():
        try:
            base64.b64decode(v, validate=True)
        except (ValueError, TypeError) as exc:
            raise ApiError(400, "BadRequest", f"illegal base64 data in Secret key {k!r}") from exc
    obj.setdefault("type", "Opaque")
    return obj


def _validate_crd(crd: dict[str, Any]) -> None:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = _meta(crd).get("name", "")
    problems = []
    if not spec.get("group"):
        problems.append("spec.group: Required value")
    if not names.get("plural") or not names.get("kind"):
        problems.append("spec.names: Required value: plural and kind")
    if spec.get("group") and names.get("plural") and name != f"{names['plural']}.{spec['group']}":
        problems.append(f'metadata.name: Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append('spec.scope: Unsupported value: supported values: "Cluster", "Namespaced"')
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        problems.append("spec.versions: Invalid value: must have exactly one version marked as storage version")
    for v in versions:
        openapi = (v.get("schema") or {}).get("openAPIV3Schema")
        if not openapi:
            problems.append(f"spec.versions[{v.get('name')}].schema.openAPIV3Schema: Required value")
        else:
            problems += schemas.check_defaults(openapi)
    if problems:
        raise ApiError(
            422,
            "Invalid",
            f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: '
            + ("[" + ", ".join(problems) + "]" if len(problems) > 1 else problems[0]),
            {
                "name": name,
                "group": "apiextensions.k8s.io",
                "kind": "CustomResourceDefinition",
                "causes": [
                    {"reason": "FieldValueInvalid", "field": field, "message": detail}
                    for field, _, detail in (problem.partition(": ") for problem in problems)
                ],
            },
        )


def _crd_types(crd: dict[str, Any]) -> Iterable[ResourceType]:
    spec = crd["spec"]
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        yield ResourceType(
            group=spec["group"],
            version=version["name"],
            plural=spec["names"]["plural"],
            kind=spec["names"]["kind"],
            namespaced=spec["scope"] == "Namespaced",
            status_subresource="status" in (version.get("subresources") or {}),
            schema=version["schema"]["openAPIV3Schema"],
            custom=True,
            columns=version.get("additionalPrinterColumns"),
        )
