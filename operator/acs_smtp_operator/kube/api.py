"""One Kubernetes API client for the operator's own reads and writes (kopf keeps its own)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

__all__ = ["GROUP", "PLURAL", "VERSION", "Kube", "KubeConflict", "new_api_client"]

GROUP, VERSION, PLURAL = "acssmtp.io", "v1alpha1", "acssmtpcredentials"


class KubeConflict(Exception):
    """Someone else changed the object first (409); reconcile again."""


def new_api_client() -> client.ApiClient:
    """In-cluster configuration when running in a pod, else the kubeconfig (KUBECONFIG)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return client.ApiClient()
    except config.ConfigException:
        api: client.ApiClient = config.new_client_from_config()  # type: ignore[no-untyped-call]
        return api


class Kube:
    """Blocking kubernetes-client calls, run in threads so that kopf's loop never blocks."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ApiException as exc:
            if exc.status == 409:
                raise KubeConflict(str(exc.reason)) from None
            raise

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            secret = await self.call(self.core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        result: dict[str, Any] = self.api.sanitize_for_serialization(secret)  # type: ignore[no-untyped-call]
        return result

    async def write_secret(self, namespace: str, body: dict[str, Any], resource_version: str | None) -> str:
        """Create the Secret, or replace it if `resource_version` (optimistic concurrency) is given.

        Returns the resourceVersion written, so that our own write is not mistaken for an edit.
        """
        if resource_version is None:
            written = await self.call(self.core.create_namespaced_secret, namespace, body)
        else:
            body["metadata"]["resourceVersion"] = resource_version
            written = await self.call(self.core.replace_namespaced_secret, body["metadata"]["name"], namespace, body)
        return str(written.metadata.resource_version)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge status; callers hold the credential's lock and computed it from a fresh read (one writer)."""
        await self.call(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
        )

    async def read_credential(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self.call(
                self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found
