"""What a kubelet gives a container from a pod spec and the Secrets it names: its environment and its files.

The e2e tests have no kubelet (the sandbox's Kubernetes is an API server only), so this module resolves a
container from one of the examples/consumers manifests the way the kubelet does, for the parts those
manifests use:

* environment: `envFrom[].secretRef` (with `prefix`, `optional`), then `env[]` in order: `value` (with
  `$(VAR)` references to variables defined before it, `$$` escaping) and `valueFrom.secretKeyRef`
  (`name`, `key`, `optional`); a missing Secret or key that is not optional keeps the container from
  starting (`CreateContainerConfigError`), raised here as `ContainerConfigError`;
* files: `secret` volumes and `projected` volumes with `sources[].secret`, with `items[{key, path, mode}]`,
  `defaultMode` (0644 unless given) and `optional`, written in the kubelet's atomic-writer layout
  (pkg/volume/util/atomic_writer.go): the files in a timestamped hidden directory
  `..2026_11_29_12_00_00.123456789`, a `..data` symlink to it, and one symlink per top-level name to
  `..data/<name>`. `update()` rewrites a volume as the kubelet does when the Secret changes: a new
  timestamped directory, `..data` swapped atomically (a `..data_tmp` symlink renamed over it), the old
  directory removed. A program that opens `<mount>/password` again after the swap reads the new value.

Not modelled (raised as NotImplementedError): other sources (configMap, downwardAPI, serviceAccountToken,
fieldRef, ...) and `subPath` mounts (which the kubelet never updates).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

__all__ = [
    "DATA_DIR",
    "ContainerConfigError",
    "Started",
    "payload",
    "pod_spec",
    "resolve_env",
    "start",
    "update",
    "write_atomic",
]

DATA_DIR = "..data"
DATA_DIR_TMP = "..data_tmp"
DEFAULT_MODE = 0o644
Secrets = Mapping[str, Mapping[str, str]]  # Secret name -> its data (key -> value), the pod's namespace
Payload = dict[str, tuple[bytes, int]]  # relative path -> content, mode


class ContainerConfigError(Exception):
    """The kubelet would not start the container (CreateContainerConfigError) or mount the volume."""


def pod_spec(manifest: Path, workload: str) -> dict[str, Any]:
    """The pod template's spec of the Deployment (or StatefulSet, DaemonSet, Job) `workload` in a manifest."""
    for doc in yaml.safe_load_all(manifest.read_text()):
        if doc and doc.get("metadata", {}).get("name") == workload and "template" in doc.get("spec", {}):
            return dict(doc["spec"]["template"]["spec"])
    raise KeyError(f"no workload {workload} in {manifest}")


def _has_secret(secrets: Secrets, name: str, optional: bool, what: str) -> bool:
    if name in secrets:
        return True
    if optional:
        return False
    raise ContainerConfigError(f'{what}: secret "{name}" not found')


def _lookup(secrets: Secrets, name: str, key: str, optional: bool, what: str) -> str | None:
    if not _has_secret(secrets, name, optional, what):
        return None
    if key not in secrets[name]:
        if optional:
            return None
        raise ContainerConfigError(f"{what}: couldn't find key {key} in Secret {name}")
    return secrets[name][key]


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def _expand(value: str, defined: Mapping[str, str]) -> str:
    """Kubernetes' dependent-variable expansion: `$(NAME)` when NAME is defined earlier, `$$` is `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return defined.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, value)


def resolve_env(container: Mapping[str, Any], secrets: Secrets) -> dict[str, str]:
    """The container's environment: `envFrom` first, then `env` in order (a later definition wins)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "secretRef" not in source:
            raise NotImplementedError(f"envFrom source {sorted(source)}")
        ref = source["secretRef"]
        if not _has_secret(secrets, ref["name"], bool(ref.get("optional", False)), "envFrom"):
            continue
        for key, value in secrets[ref["name"]].items():
            env[f"{source.get('prefix', '')}{key}"] = value
    for var in container.get("env") or []:
        if "valueFrom" not in var:
            env[var["name"]] = _expand(str(var.get("value", "")), env)
            continue
        value_from = var["valueFrom"]
        if "secretKeyRef" not in value_from:
            raise NotImplementedError(f"env {var['name']}: valueFrom {sorted(value_from)}")
        ref = value_from["secretKeyRef"]
        found = _lookup(secrets, ref["name"], ref["key"], bool(ref.get("optional", False)), f"env {var['name']}")
        if found is not None:
            env[var["name"]] = found
    return env


def _checked(path: str) -> str:
    parts = PurePosixPath(path).parts
    if not path or path.startswith("/") or ".." in parts or parts[0].startswith(".."):
        raise ContainerConfigError(f"invalid path {path!r}: relative, without '..'")
    return path


def _secret_files(
    secrets: Secrets, name: str, items: Iterable[Mapping[str, Any]] | None, mode: int, optional: bool
) -> Payload:
    if not _has_secret(secrets, name, optional, "volume"):
        return {}
    data = secrets[name]
    if not items:
        return {_checked(key): (value.encode(), mode) for key, value in data.items()}
    files: Payload = {}
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            raise ContainerConfigError(f"couldn't find key {item['key']} in Secret {name}")
        files[_checked(item["path"])] = (data[item["key"]].encode(), int(item.get("mode", mode)))
    return files


def payload(volume: Mapping[str, Any], secrets: Secrets) -> Payload:
    """The files of a `secret` or `projected` volume: relative path -> (content, mode)."""
    if "secret" in volume:
        spec = volume["secret"]
        mode = int(spec.get("defaultMode", DEFAULT_MODE))
        return _secret_files(secrets, spec["secretName"], spec.get("items"), mode, bool(spec.get("optional", False)))
    if "projected" in volume:
        spec = volume["projected"]
        mode = int(spec.get("defaultMode", DEFAULT_MODE))
        files: Payload = {}
        for source in spec.get("sources") or []:
            if "secret" not in source:
                raise NotImplementedError(f"projected source {sorted(source)}")
            ref = source["secret"]
            more = _secret_files(secrets, ref["name"], ref.get("items"), mode, bool(ref.get("optional", False)))
            if clash := files.keys() & more.keys():
                raise ContainerConfigError(f"projected volume {volume['name']}: conflicting paths {sorted(clash)}")
            files.update(more)
        return files
    raise NotImplementedError(f"volume {volume.get('name')}: {sorted(k for k in volume if k != 'name')}")


def _timestamped_dir(directory: Path) -> Path:
    """`..2026_11_29_12_00_00.123456789`: as the kubelet's os.MkdirTemp(dir, "..<UTC time>.")."""
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    while True:
        candidate = directory / f"{stamp}{random.randrange(10**9):09d}"
        try:
            candidate.mkdir(mode=0o755)
            return candidate
        except FileExistsError:
            continue


def write_atomic(directory: Path, files: Payload) -> Path:
    """Write (or rewrite) a volume as the kubelet's atomic writer does; returns the new timestamped dir."""
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / DATA_DIR
    old = directory / os.readlink(data) if data.is_symlink() else None
    new = _timestamped_dir(directory)
    for relative, (content, mode) in files.items():
        target = new / relative
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        target.write_bytes(content)
        target.chmod(mode)
    tmp = directory / DATA_DIR_TMP
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(new.name)
    tmp.replace(data)  # rename(2): readers see the old or the new directory, never a mix
    visible = {PurePosixPath(relative).parts[0] for relative in files}
    for name in visible:
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(f"{DATA_DIR}/{name}")
    for entry in directory.iterdir():
        if not entry.name.startswith("..") and entry.name not in visible and entry.is_symlink():
            entry.unlink()  # a key the Secret no longer has
    if old is not None and old != new:
        shutil.rmtree(old)
    return new


@dataclass(frozen=True)
class Started:
    """A container as the kubelet starts it: its environment and where each volume mount's files are."""

    env: dict[str, str] = field(repr=False)  # it may hold a password: not in reprs
    mounts: dict[str, Path] = field(default_factory=dict)  # mountPath in the container -> directory here
    volumes: dict[str, Path] = field(default_factory=dict)  # volume name -> directory here

    def host_path(self, container_path: str) -> Path:
        """The path here of a path inside the container (under one of its mounts)."""
        for mount_path in sorted(self.mounts, key=len, reverse=True):
            inside = PurePosixPath(container_path)
            if inside == PurePosixPath(mount_path) or PurePosixPath(mount_path) in inside.parents:
                return self.mounts[mount_path].joinpath(*inside.relative_to(mount_path).parts)
        raise KeyError(f"{container_path} is not under a volume mount of the container")


def start(pod: Mapping[str, Any], container_name: str, secrets: Secrets, root: Path) -> Started:
    """Resolve `container_name` of the pod spec `pod`; its volumes are written under `root`."""
    container = next(c for c in pod["containers"] if c["name"] == container_name)
    env = resolve_env(container, secrets)
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    written: dict[str, Path] = {}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts") or []:
        if mount.get("subPath") or mount.get("subPathExpr"):
            raise NotImplementedError("subPath mounts (the kubelet never updates them)")
        name = mount["name"]
        if name not in written:
            written[name] = root / name
            write_atomic(written[name], payload(volumes[name], secrets))
        mounts[mount["mountPath"]] = written[name]
    return Started(env, mounts, written)


def update(started: Started, pod: Mapping[str, Any], secrets: Secrets) -> None:
    """The kubelet's sync after the Secrets changed: every volume of the container rewritten atomically.

    The environment does not change: a running container keeps the values it started with.
    """
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for name, directory in started.volumes.items():
        write_atomic(directory, payload(volumes[name], secrets))
