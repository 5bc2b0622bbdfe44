"""The Kubernetes emulator driven by the official Python client: concurrency, status, watches."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from tests.conftest import ROOT, Cloud

GROUP, VERSION, PLURAL = "acssmtp.io", "v1alpha1", "acssmtpcredentials"


@pytest.fixture(scope="module")
def api(cloud: Cloud) -> Iterator[client.ApiClient]:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    with config.new_client_from_config(config_file=cloud.manifest["kubeconfig"]) as api_client:  # type: ignore[no-untyped-call]
        yield api_client


def as_dict(found: object) -> dict[str, Any]:
    """A custom object as the client returns it (annotated `object`): the decoded JSON."""
    assert isinstance(found, dict)
    return found


def body(cloud: Cloud, name: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AcsSmtpCredential",
        "metadata": {"name": name, **meta},
        "spec": {
            "communicationService": {"resourceId": cloud.acs["resourceId"]},
            "entraApplication": {"clientId": cloud.app("shop-mailer")["clientId"]},
        },
    }


def test_a_write_with_a_stale_resource_version_is_refused_with_409(cloud: Cloud, api: client.ApiClient) -> None:
    crs = client.CustomObjectsApi(api)
    created = as_dict(crs.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body(cloud, "stale")))
    stale = created["metadata"]["resourceVersion"]
    crs.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "stale", {"metadata": {"labels": {"a": "b"}}})
    with pytest.raises(ApiException) as info:
        crs.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "stale", {"metadata": {"resourceVersion": stale, "labels": {"a": "c"}}}
        )
    assert info.value.status == 409


def test_put_replaces_and_checks_the_resource_version(cloud: Cloud, api: client.ApiClient) -> None:
    crs = client.CustomObjectsApi(api)
    current = as_dict(crs.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body(cloud, "replaced")))
    current["spec"]["deletionPolicy"] = "Retain"
    replaced = as_dict(crs.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "replaced", current))
    assert replaced["spec"]["deletionPolicy"] == "Retain" and replaced["metadata"]["generation"] == 2
    with pytest.raises(ApiException) as info:
        crs.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "replaced", current)
    assert info.value.status == 409


def test_status_is_written_only_through_the_status_subresource(cloud: Cloud, api: client.ApiClient) -> None:
    crs = client.CustomObjectsApi(api)
    crs.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, {**body(cloud, "status"), "status": {"username": "ignored"}}
    )
    main = as_dict(
        crs.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "status", {"status": {"username": "also-ignored"}}
        )
    )
    assert "status" not in main
    sub = as_dict(
        crs.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            "default",
            PLURAL,
            "status",
            {"status": {"username": "u"}, "spec": {"deletionPolicy": "Retain"}},
        )
    )
    assert sub["status"] == {"username": "u"} and sub["spec"]["deletionPolicy"] == "Delete"
    assert sub["metadata"]["generation"] == 1


def test_generate_name_gives_a_unique_name(cloud: Cloud, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    events = [
        core.create_namespaced_event(
            "default",
            client.CoreV1Event(
                metadata=client.V1ObjectMeta(generate_name="evt-"),
                involved_object=client.V1ObjectReference(name="x"),
                reason="Test",
                message="m",
            ),
        )
        for _ in range(2)
    ]
    names = {e.metadata.name for e in events}
    assert len(names) == 2 and all(n is not None and n.startswith("evt-") for n in names)


def test_duplicate_create_is_409_already_exists(cloud: Cloud, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="dup"), string_data={"k": "v"})
    core.create_namespaced_secret("default", secret)
    with pytest.raises(ApiException) as info:
        core.create_namespaced_secret("default", secret)
    assert info.value.status == 409 and info.value.body is not None and "AlreadyExists" in info.value.body


def test_a_watch_resumes_from_a_resource_version_with_only_later_events(cloud: Cloud, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    listed = core.list_namespaced_config_map("default", label_selector="watch=me")
    assert listed.metadata is not None
    since = listed.metadata.resource_version
    for n in range(3):
        core.create_namespaced_config_map(
            "default",
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"w{n}", labels={"watch": "me"}), data={"n": str(n)}),
        )
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="other")))
    core.delete_namespaced_config_map("w0", "default")
    seen = []
    stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
        core.list_namespaced_config_map, "default", label_selector="watch=me", resource_version=since, timeout_seconds=2
    )
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
    assert seen == [("ADDED", "w0"), ("ADDED", "w1"), ("ADDED", "w2"), ("DELETED", "w0")]


def test_a_live_watch_sees_changes_as_they_happen(cloud: Cloud, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    seen: list[tuple[str, str]] = []
    ready = threading.Event()

    def follow() -> None:
        w = watch.Watch()  # type: ignore[no-untyped-call]
        for event in w.stream(  # type: ignore[no-untyped-call]
            core.list_namespaced_secret, "default", label_selector="live=yes", timeout_seconds=5
        ):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 2:
                w.stop()  # type: ignore[no-untyped-call]

    thread = threading.Thread(target=follow)
    thread.start()
    ready.wait(0.5)
    core.create_namespaced_secret(
        "default", client.V1Secret(metadata=client.V1ObjectMeta(name="live", labels={"live": "yes"}))
    )
    core.patch_namespaced_secret("live", "default", {"data": {"k": "dg=="}})
    thread.join(10)
    assert seen == [("ADDED", "live"), ("MODIFIED", "live")]
