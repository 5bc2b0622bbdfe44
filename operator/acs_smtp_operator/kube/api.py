"""One Kubernetes API client for the operator's own reads and writes (kopf keeps its own).

Every API error leaves as a `Failure`: a 409 asks for a new pass after a second, a 403 names the
missing permission, anything else backs off. A 404 is an answer (None) where the caller expects one.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from acs_smtp_operator.failure import After, Backoff, Failure
from acs_smtp_operator.model import Reason
from acs_smtp_operator.vocabulary import GROUP, PLURAL, POLICY_PLURAL, VERSION

__all__ = ["Kube", "new_api_client", "served"]


def new_api_client() -> client.ApiClient:
    """In-cluster configuration when running in a pod, else the kubeconfig (KUBECONFIG)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return client.ApiClient()
    except config.ConfigException:
        api: client.ApiClient = config.new_client_from_config()  # type: ignore[no-untyped-call]
        return api


async def served(api: client.ApiClient, group: str, version: str) -> set[str]:
    """The resources (plurals) the API server serves in `group/version` (discovery: no RBAC needed); empty
    when it serves none, or cannot be asked now."""
    try:
        found = await asyncio.to_thread(
            lambda: client.CustomObjectsApi(api).get_api_resources(group, version, _request_timeout=10)
        )
    except (ApiException, urllib3.exceptions.HTTPError):
        return set()
    return {str(r.name) for r in (found.resources if found is not None else None) or []}


def _said(exc: ApiException) -> str:
    """The API server's own message (a Status object's `message`), else the HTTP reason."""
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or exc.reason or exc.status)[:400]


def _failure(exc: ApiException, what: str, quiet: bool) -> Failure:
    said = exc.reason or exc.status if quiet else _said(exc)
    text = f"{what}: Kubernetes answered {exc.status}: {said}"
    if exc.status == 409:
        return Failure(Reason.OBJECT_CHANGED, f"{what}: the object changed meanwhile", status=409, retry=After(1))
    if exc.status == 403:
        return Failure(Reason.KUBERNETES_FORBIDDEN, text, status=403)
    if exc.status == 429:
        seconds = (exc.headers or {}).get("Retry-After")
        later = After(float(seconds)) if seconds and str(seconds).isdigit() else Backoff()
        return Failure(Reason.THROTTLED, text, status=429, retry=later)
    return Failure(Reason.KUBERNETES_ERROR, text, status=exc.status)


class Kube:
    """Blocking kubernetes-client calls, run in threads so that kopf's loop never blocks."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)

    async def call(
        self, what: str, fn: Callable[..., Any], *args: Any, absent: bool = False, quiet: bool = False
    ) -> Any:
        """`fn(*args)` in a thread; with `absent`, a 404 returns None; with `quiet`, the server's own message
        (an admission webhook may echo what it was sent) is left out of the failure."""
        try:
            return await asyncio.to_thread(fn, *args)
        except ApiException as exc:
            if absent and exc.status == 404:
                return None
            raise _failure(exc, what, quiet) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Failure(
                Reason.KUBERNETES_ERROR, f"{what}: the API server could not be reached ({type(exc).__name__})"
            ) from None

    def plain(self, obj: Any) -> dict[str, Any]:
        """A client model as the JSON-shaped dict the API server sent."""
        result: dict[str, Any] = self.api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        return result

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = await self.call(
            f"reading Secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace, absent=True
        )
        return None if found is None else self.plain(found)

    async def list_secrets(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """The Secrets of a namespace that carry these labels (the operator's own)."""
        found = await self.call(
            f"listing Secrets in {namespace}",
            functools.partial(self.core.list_namespaced_secret, namespace, label_selector=label_selector),
        )
        return [self.plain(item) for item in found.items or []]

    async def write_secret(self, namespace: str, body: dict[str, Any], resource_version: str | None) -> str:
        """Create the Secret, or replace it if `resource_version` (optimistic concurrency) is given.

        Returns the resourceVersion written, so that our own write is not mistaken for an edit.
        """
        name = body["metadata"]["name"]
        what = f"writing Secret {namespace}/{name}"
        if resource_version is None:
            written = await self.call(what, self.core.create_namespaced_secret, namespace, body, quiet=True)
        else:
            body = {**body, "metadata": {**body["metadata"], "resourceVersion": resource_version}}
            written = await self.call(what, self.core.replace_namespaced_secret, name, namespace, body, quiet=True)
        return str(written.metadata.resource_version)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge status; callers hold the credential's lock and computed it from a fresh read (one writer)."""
        await self.call(
            f"writing the status of {namespace}/{name}",
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
        )

    async def patch_policy_status(self, name: str, status: dict[str, Any]) -> None:
        """Merge an AcsSmtpPolicy's status (the operator writes only what it computes: acceptance and usage)."""
        await self.call(
            f"writing the status of AcsSmtpPolicy {name}",
            self.custom.patch_cluster_custom_object_status,
            GROUP,
            VERSION,
            POLICY_PLURAL,
            name,
            {"status": status},
            absent=True,  # deleted meanwhile: nothing to report
        )

    async def read_credential(self, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.call(
            f"reading AcsSmtpCredential {namespace}/{name}",
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            absent=True,
        )
        return found

    async def cluster_id(self) -> str | None:
        """The kube-system namespace's uid: the cluster's identity (namespaces may be listed, not read)."""
        found = await self.call(
            "reading the kube-system namespace",
            functools.partial(self.core.list_namespace, field_selector="metadata.name=kube-system"),
        )
        items = found.items or []
        return str(items[0].metadata.uid) if items and items[0].metadata and items[0].metadata.uid else None
