"""Reads for the `status` and `check` commands, as the person running them (their kubeconfig, their RBAC).

Each read says what it found, that the object is absent, or why it could not be read (a 403 is a likely answer
for a tenant reading a cluster-scoped policy): the command shows what it could read and says what it could not.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from acs_smtp_operator.describe import Found, Workload
from acs_smtp_operator.kube.workloads import LISTS, METHODS, rollout
from acs_smtp_operator.model import RestartTarget
from acs_smtp_operator.vocabulary import GROUP, KIND, PLURAL, POLICY_PLURAL, VERSION

__all__ = ["credential", "events", "policy", "secret_data", "secret_metadata", "targets", "workload"]


def _read(api: client.ApiClient, fn: Any, *args: Any) -> Found:
    try:
        found = fn(*args, _request_timeout=15)
    except ApiException as exc:
        if exc.status == 404:
            return Found(state="absent")
        return Found(state="unreadable", why=f"Kubernetes answered {exc.status} {exc.reason}")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return Found(state="unreadable", why=f"the API server could not be reached ({type(exc).__name__})")
    body = found if isinstance(found, dict) else api.sanitize_for_serialization(found)  # type: ignore[no-untyped-call]
    return Found(state="found", body=dict(body))


def credential(api: client.ApiClient, namespace: str, name: str) -> Found:
    custom = client.CustomObjectsApi(api)
    return _read(api, custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name)


def policy(api: client.ApiClient, name: str) -> Found:
    return _read(api, client.CustomObjectsApi(api).get_cluster_custom_object, GROUP, VERSION, POLICY_PLURAL, name)


# The metadata alone (a PartialObjectMetadata), not the Secret's data; a server that does not serve it sends the
# whole Secret, whose data is dropped here.
_METADATA_ONLY = {"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"}


def secret_metadata(api: client.ApiClient, namespace: str, name: str) -> Found:
    """The Secret without its data: `status` shows which key it holds, never what."""
    core = client.CoreV1Api(api)
    try:
        response: Any = core.read_namespaced_secret(
            name, namespace, _request_timeout=15, _preload_content=False, _headers=_METADATA_ONLY
        )
        metadata = json.loads(response.data).get("metadata") or {}
    except ApiException as exc:
        if exc.status == 404:
            return Found(state="absent")
        return Found(state="unreadable", why=f"Kubernetes answered {exc.status} {exc.reason}")
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        return Found(state="unreadable", why=f"the Secret could not be read ({type(exc).__name__})")
    return Found(state="found", body={"metadata": metadata})


def secret_data(api: client.ApiClient, namespace: str, name: str) -> tuple[Found, dict[str, str]]:
    """The Secret's keys decoded, as a pod mounting it would see them; the Found carries its metadata only."""
    found = _read(api, client.CoreV1Api(api).read_namespaced_secret, name, namespace)
    raw = found.body.get("data") or {}
    data = {key: base64.b64decode(value).decode(errors="replace") for key, value in raw.items()}
    return Found(state=found.state, body={"metadata": found.body.get("metadata", {})}, why=found.why), data


def workload(api: client.ApiClient, kind: str, namespace: str, name: str) -> Workload:
    """A restart target and where its rollout stands: `rolled-out`, `rolling-out`, `absent` or `unreadable`."""
    if kind not in METHODS:
        return Workload(kind=kind, name=name, state="unreadable", detail="not a kind the operator restarts")
    found = _read(api, getattr(client.AppsV1Api(api), METHODS[kind][1]), name, namespace)
    if found.state != "found":
        return Workload(kind=kind, name=name, state=found.state, detail=found.why)
    where = rollout(kind, found.body)
    return Workload(kind=kind, name=name, state="rolled-out" if where.complete else "rolling-out", detail=where.detail)


def targets(api: client.ApiClient, namespace: str, raw: list[Any]) -> list[Workload]:
    """Each of a credential's restart targets as spec.restartTargets gives them: a named workload, or every one its
    selector matches now (at most `_SHOWN` of them), and where each one's rollout stands."""
    shown: list[Workload] = []
    for item in raw:
        try:
            target = RestartTarget.model_validate(item)
        except ValidationError:  # the operator refuses such a spec (InvalidSpec): its conditions say why
            given = item if isinstance(item, dict) else {}
            kind, name = str(given.get("kind") or "?"), str(given.get("name") or "(no name)")
            shown.append(Workload(kind=kind, name=name, state="unreadable", detail="not a valid restart target"))
            continue
        if target.selector is None:
            shown.append(workload(api, target.kind, namespace, str(target.name)))
            continue
        shown.extend(_selected(api, target.kind, namespace, target.selector.query()))
    return shown


_SHOWN = 50  # workloads one selector lists at most


def _selected(api: client.ApiClient, kind: str, namespace: str, query: str) -> list[Workload]:
    lister = getattr(client.AppsV1Api(api), LISTS[kind])
    try:
        response: Any = lister(
            namespace, label_selector=query, limit=_SHOWN, _request_timeout=15, _preload_content=False
        )
        answer = json.loads(response.data)
    except ApiException as exc:
        why = f"Kubernetes answered {exc.status} {exc.reason}"
        return [Workload(kind=kind, name="", state="unreadable", detail=why, selector=query)]
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        why = f"the workloads could not be listed ({type(exc).__name__})"
        return [Workload(kind=kind, name="", state="unreadable", detail=why, selector=query)]
    items = answer.get("items") or []
    if not items:
        return [Workload(kind=kind, name="", state="absent", detail="none matches", selector=query)]
    found = []
    for item in items:
        where = rollout(kind, item)
        state: Literal["rolled-out", "rolling-out"] = "rolled-out" if where.complete else "rolling-out"
        name = str((item.get("metadata") or {}).get("name"))
        found.append(Workload(kind=kind, name=name, state=state, detail=where.detail, selector=query))
    if (answer.get("metadata") or {}).get("continue"):
        more = f"more than {_SHOWN} match; the first {_SHOWN} are shown"
        found.append(Workload(kind=kind, name="", state="unreadable", detail=more, selector=query))
    return found


def events(api: client.ApiClient, namespace: str, name: str, uid: str | None) -> tuple[list[dict[str, Any]], str]:
    """The credential's Events (core/v1, as kopf and the operator post them), and why not if unreadable."""
    selector = f"involvedObject.kind={KIND},involvedObject.name={name}"
    if uid:
        selector += f",involvedObject.uid={uid}"
    try:
        response: Any = client.CoreV1Api(api).list_namespaced_event(
            namespace, field_selector=selector, _request_timeout=15, _preload_content=False
        )
        items = json.loads(response.data).get("items", [])  # the raw answer: the Events as the server sent them
    except ApiException as exc:
        return [], f"Kubernetes answered {exc.status} {exc.reason}"
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        return [], f"the Events could not be read ({type(exc).__name__})"
    return [dict(item) for item in items], ""
