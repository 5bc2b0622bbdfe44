"""The on-call commands' connection, list and one write, as the person running them (`kube/inspect.py` has
their reads of one credential): the kubeconfig and context kubectl would use, their RBAC.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from acs_smtp_operator.vocabulary import GROUP, PLURAL, VERSION

__all__ = ["NoConfig", "annotate", "connect", "credentials"]

_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class NoConfig(Exception):
    """No usable kubeconfig (or context); the message never quotes the file's content."""


def connect(kubeconfig: str | None = None, context: str | None = None) -> tuple[client.ApiClient, str]:
    """An API client as kubectl makes it, and the namespace its context names (`default` when none):
    `--kubeconfig`, else KUBECONFIG (a list of files, merged), else ~/.kube/config; `--context`, else the
    current context. In a pod with no kubeconfig, its service account (and its namespace)."""
    default = Path("~/.kube/config").expanduser()
    if not kubeconfig and not os.environ.get("KUBECONFIG") and not default.exists():
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not context:
            try:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
                namespace = _SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
            except (config.ConfigException, OSError) as exc:
                raise NoConfig(f"in a pod, but its service account cannot be used ({type(exc).__name__})") from None
            return client.ApiClient(), namespace or "default"
        raise NoConfig(f"no kubeconfig: give --kubeconfig, set KUBECONFIG, or write {default}")
    try:
        contexts, current = config.list_kube_config_contexts(kubeconfig)  # type: ignore[no-untyped-call]
        chosen = current if not context else next((c for c in contexts or [] if c.get("name") == context), None)
        if chosen is None:
            raise NoConfig(f'context "{context}" does not exist in the kubeconfig')
        api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, persist_config=False
        )
    except config.ConfigException as exc:
        raise NoConfig(f"the kubeconfig cannot be used: {exc}") from None
    except yaml.YAMLError:
        raise NoConfig("the kubeconfig is not valid YAML") from None  # its text may hold a token: never quoted
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise NoConfig(f"the kubeconfig cannot be read ({type(exc).__name__})") from None
    return api, str((chosen.get("context") or {}).get("namespace") or "default")


def annotate(api: client.ApiClient, namespace: str, name: str, key: str, value: str) -> str:
    """Set one annotation on a credential (a merge patch: nothing else changes); empty, or why it failed."""
    body = {"metadata": {"annotations": {key: value}}}
    try:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, body, _request_timeout=15
        )
    except ApiException as exc:
        return "not found (404)" if exc.status == 404 else f"Kubernetes answered {exc.status} {exc.reason}"
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return f"the API server could not be reached ({type(exc).__name__})"
    return ""


def credentials(api: client.ApiClient, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
    """Every credential in a namespace (None: in all of them), and why not if they cannot be listed."""
    custom = client.CustomObjectsApi(api)
    found: Any
    try:
        if namespace is None:
            found = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, _request_timeout=30)
        else:
            found = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _request_timeout=30)
    except ApiException as exc:
        if exc.status == 404:
            return [], f"the cluster does not serve {PLURAL}.{GROUP} (are the CRDs installed?)"
        return [], f"Kubernetes answered {exc.status} {exc.reason}"
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return [], f"the API server could not be reached ({type(exc).__name__})"
    return [dict(item) for item in (found or {}).get("items") or []], ""
