"""kmock's KubernetesEmulator, extended into an API server that kopf and kubectl can rely on.

kmock supplies the HTTP server, request parsing, the request log and API
discovery; this subclass replaces its object handling with `Store`, which
implements kube-apiserver's semantics, and serves watches that resume from a
resourceVersion, `Table` output for kubectl, and CRD registration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any, cast

import attrs
import kmock
from aiohttp import web

from acs_smtp_operator.sandbox.kube.controllers import RolloutSimulator
from acs_smtp_operator.sandbox.kube.selectors import SelectorError, field_matcher, label_matcher
from acs_smtp_operator.sandbox.kube.store import ApiError, Event, ResourceType, Store, Watcher
from acs_smtp_operator.sandbox.kube.tables import to_table

__all__ = ["KubeEmulator"]

_VERBS = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
_WATCH_POLL_SECONDS = 2.0


def _key(resource: Any) -> tuple[str, str, str]:
    return (str(resource.group or ""), str(resource.version or ""), str(resource.plural or ""))


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    store: Store = attrs.field(init=False)
    _short_names: dict[tuple[str, str, str], list[str]] = attrs.field(factory=dict, init=False)
    rollouts: RolloutSimulator = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()
        self.store = Store(on_types_changed=self._sync_discovery)
        for res in list(self.resources):
            info = self.resources[res]
            group, version, plural = _key(res)
            if info.kind and "get" in info.verbs:
                self.store.register(
                    ResourceType(
                        group=group,
                        version=version,
                        plural=plural,
                        kind=info.kind,
                        namespaced=bool(info.namespaced),
                        status_subresource="status" in info.subresources,
                    )
                )
        for namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.ensure_namespace(namespace)
        self.rollouts = RolloutSimulator(self.store)

    # -- discovery ------------------------------------------------------------------------------

    def _sync_discovery(self, store: Store) -> None:
        """Make kmock's discovery documents follow the registered CRDs."""
        for res in list(self.resources):
            if _key(res) not in store.types:
                del self.resources[res]
        for rtype in store.types.values():
            if not rtype.custom:
                continue
            crd = next(
                (
                    o
                    for o in store.objects[("apiextensions.k8s.io", "v1", "customresourcedefinitions")].values()
                    if o["metadata"]["name"] == rtype.qualified
                ),
                None,
            )
            names = (crd or {}).get("spec", {}).get("names", {})
            self._short_names[rtype.key] = list(names.get("shortNames") or [])
            self.resources[f"{rtype.group}/{rtype.version}/{rtype.plural}"] = kmock.ResourceInfo(
                kind=rtype.kind,
                singular=names.get("singular") or rtype.kind.lower(),
                namespaced=rtype.namespaced,
                verbs=_VERBS,
                shortnames=set(names.get("shortNames") or []),
                categories=set(names.get("categories") or []),
                subresources={"status"} if rtype.status_subresource else set(),
            )

    async def _serve_version(self, request: Any) -> Any:
        document = cast(dict[str, Any], await super()._serve_version(request))
        if document.get("groupVersion", "").startswith("/"):
            document["groupVersion"] = document["groupVersion"][1:]
        group, _, version = document.get("groupVersion", "").rpartition("/")
        for entry in document.get("resources", []):
            if "/" in entry["name"]:  # a subresource: no names of its own
                entry.update(shortNames=[], categories=[], singularName="", verbs=["get", "patch", "update"])
            elif (group, version, entry["name"]) in self._short_names:  # in the CRD's order, not a set's
                entry["shortNames"] = self._short_names[(group, version, entry["name"])]
        return document

    def _openapi(self, path: str) -> web.Response:
        """Just enough OpenAPI v3 for kubectl to see that every PATCH takes `fieldValidation`.

        kubectl then validates on the server (`?fieldValidation=Strict`) instead of downloading schemas.
        """
        by_gv: dict[str, list[ResourceType]] = {}
        for rtype in self.store.types.values():
            prefix = f"api/{rtype.version}" if not rtype.group else f"apis/{rtype.group}/{rtype.version}"
            by_gv.setdefault(prefix, []).append(rtype)
        if path.rstrip("/") == "/openapi/v3":
            return web.json_response(
                {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={self.store.rv}"} for gv in by_gv}}
            )
        gv = path.removeprefix("/openapi/v3/").strip("/")
        if gv not in by_gv:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        paths = {}
        for rtype in by_gv[gv]:
            scope = "/namespaces/{namespace}" if rtype.namespaced else ""
            paths[f"/{gv}{scope}/{rtype.plural}/{{name}}"] = {
                "patch": {
                    "x-kubernetes-group-version-kind": {
                        "group": rtype.group,
                        "version": rtype.version,
                        "kind": rtype.kind,
                    },
                    "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "OK"}},
                }
            }
        return web.json_response(
            {
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": "v1.37.0"},
                "paths": paths,
                "components": {"schemas": {}},
            }
        )

    async def _serve_server_version(self, request: Any) -> Any:
        return {
            "major": "1",
            "minor": "37",
            "gitVersion": "v1.37.0-acssmtp-sandbox",
            "gitCommit": "",
            "gitTreeState": "clean",
            "buildDate": "2026-11-01T00:00:00Z",
            "goVersion": "go1.26",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    # -- objects --------------------------------------------------------------------------------

    async def __call__(self, raw: web.BaseRequest) -> web.StreamResponse:
        """Object requests are served here; discovery and everything else goes through kmock."""
        target = parse_object_path(raw.path)
        if target is None:
            if raw.path.startswith("/openapi/v3"):
                return self._guard(lambda: self._openapi(raw.path))
            response: web.StreamResponse = await super().__call__(raw)
            return response
        body = await raw.read()
        try:
            return await self._serve_object(raw, target, body)
        except ApiError as exc:
            return web.json_response(exc.status(), status=exc.code)
        except SelectorError as exc:
            return web.json_response(ApiError(400, "BadRequest", str(exc)).status(), status=400)

    @staticmethod
    def _guard(serve: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = serve()
        except ApiError as exc:
            return web.json_response(exc.status(), status=exc.code)
        return response

    async def _serve_object(self, raw: web.BaseRequest, target: ObjectPath, data: bytes) -> web.StreamResponse:
        key, ns, name, sub = target.key, target.namespace, target.name, target.subresource
        method = raw.method.upper()
        query = raw.query
        store = self.store
        if method == "GET" and query.get("watch") in ("true", "1"):
            return await self._watch(raw, key, ns, name)
        table = "as=Table" in raw.headers.get("Accept", "")
        if method == "GET" and name is None:
            items = store.select(key, ns, _matcher(query))
            if table:
                return web.json_response(to_table(items, store.rtype(key).columns or [], str(store.rv)))
            rtype = store.rtype(key)
            return web.json_response(
                {
                    "kind": f"{rtype.kind}List",
                    "apiVersion": rtype.api_version,
                    "metadata": {"resourceVersion": str(store.rv)},
                    "items": items,
                }
            )
        if method == "GET" and name is not None:
            obj = store.get(key, ns, name)
            if table:
                return web.json_response(to_table([obj], store.rtype(key).columns or [], str(store.rv)))
            return web.json_response(obj)
        body = _body(data, raw.content_type)
        strict = query.get("fieldValidation", "").lower() == "strict"
        if method == "POST" and name is None:
            return web.json_response(store.create(key, ns, body, strict=strict), status=201)
        if method == "PUT" and name is not None:
            return web.json_response(store.replace(key, ns, name, body, sub, strict=strict))
        if method == "PATCH" and name is not None:
            return web.json_response(store.patch(key, ns, name, raw.content_type, body, sub, strict=strict))
        if method == "DELETE" and name is not None:
            options = body if isinstance(body, dict) else {}
            propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
            return web.json_response(store.delete(key, ns, name, propagation))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    async def _watch(self, raw: web.BaseRequest, key: Any, ns: str | None, name: str | None) -> web.StreamResponse:
        store = self.store
        accepts = _matcher(raw.query)
        if name is not None:
            by_name = accepts
            accepts = lambda o: o["metadata"]["name"] == name and by_name(o)  # noqa: E731
        since = raw.query.get("resourceVersion", "")
        replay: list[Event] | None
        if since in ("", "0"):
            replay = [Event(0, "ADDED", o) for o in store.select(key, ns, accepts)]
        else:
            try:
                replay = store.events_since(key, int(since))
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"invalid resource version: {since!r}") from exc
            if replay is not None:
                replay = [
                    e
                    for e in replay
                    if (ns is None or e.object["metadata"].get("namespace") == ns) and accepts(e.object)
                ]
        watcher = Watcher(key=key, namespace=ns, accepts=accepts)
        store.watchers.append(watcher)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        try:
            if replay is None:
                gone = ApiError(410, "Expired", f"too old resource version: {since} ({store.rv})").status()
                await response.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
                return response
            for event in replay:
                await _send(response, event)
            if raw.query.get("sendInitialEvents") == "true":  # the WatchList protocol: mark the end
                await _send(response, _initial_events_end(store.rtype(key), store.rv))
            timeout = float(raw.query.get("timeoutSeconds") or 0) or None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout if timeout else None
            while deadline is None or loop.time() < deadline:
                wait = _WATCH_POLL_SECONDS if deadline is None else min(_WATCH_POLL_SECONDS, deadline - loop.time())
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), timeout=max(wait, 0))
                except TimeoutError:
                    if raw.transport is None or raw.transport.is_closing():
                        break
                    continue
                await _send(response, event)
        except ConnectionResetError:
            return response
        finally:
            with contextlib.suppress(ValueError):
                store.watchers.remove(watcher)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response


@dataclass(frozen=True)
class ObjectPath:
    key: tuple[str, str, str]
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_object_path(path: str) -> ObjectPath | None:
    """Split a Kubernetes object URL; None for discovery and other non-object paths."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    return ObjectPath(
        key=(group, version, rest[0]),
        namespace=namespace,
        name=rest[1] if len(rest) > 1 else None,
        subresource=rest[2] if len(rest) > 2 else None,
    )


async def _send(response: web.StreamResponse, event: Event) -> None:
    await response.write(json.dumps({"type": event.type, "object": event.object}).encode() + b"\n")


def _initial_events_end(rtype: ResourceType, rv: int) -> Event:
    marker = {"resourceVersion": str(rv), "annotations": {"k8s.io/initial-events-end": "true"}}
    return Event(rv, "BOOKMARK", {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": marker})


def _matcher(query: Any) -> Any:
    labels = label_matcher(query.get("labelSelector", ""))
    fields = field_matcher(query.get("fieldSelector", ""))
    return lambda obj: labels(obj.get("metadata", {}).get("labels") or {}) and fields(obj)


def _body(data: bytes, content_type: str) -> Any:
    if not data:
        return None
    if "protobuf" in content_type or "cbor" in content_type:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - "
            "accepted media types include: application/json, application/yaml",
        )
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded as JSON: {exc}") from exc
