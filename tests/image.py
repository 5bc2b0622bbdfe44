"""The built image (build/image/, `make image`): build it when its inputs changed, read its OCI archive, and run its
entrypoint as a kubelet would: UID 65532 with no passwd entry, read-only root, an emptyDir on /tmp, the host's
network (the sandbox listens on 127.0.0.1), no HOME and no USER. No container runtime is needed: the layers are
unpacked, and `unshare` (a private mount namespace) with `chroot --userspec` runs the process."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "image"
ARCHIVE = OUT / "acs-smtp-operator.oci.tar"
INSTALL = "apt-get update && apt-get install -y buildah mmdebstrap"
UID = 65532


def inputs_digest() -> str:
    """What the image is built from: the Dockerfile, its ignore file, pyproject, the locks, the package, the scripts."""
    digest = hashlib.sha256()
    files = [ROOT / n for n in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "Makefile")]
    files += sorted((ROOT / "scripts").glob("*"))
    files += sorted(ROOT.glob("requirements*.lock"))
    files += sorted(p for p in (ROOT / "operator").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build() -> dict[str, Any]:
    """`make image` unless the archive was built from these very inputs; the build's figures (build.json)."""
    if shutil.which("buildah") is None or shutil.which("mmdebstrap") is None:
        raise AssertionError(f"the image is built with buildah and mmdebstrap, which are missing: {INSTALL}")
    stamp, wanted = OUT / "inputs.sha256", inputs_digest()
    if not (ARCHIVE.exists() and stamp.exists() and stamp.read_text() == wanted):
        done = subprocess.run(["make", "image"], cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        stamp.write_text(wanted)
    return dict(json.loads((OUT / "build.json").read_text()))


@dataclass(frozen=True)
class Image:
    """An OCI archive: its manifest, its config and its layers (oldest first)."""

    archive: Path
    manifest_digest: str
    manifest: dict[str, Any]
    config: dict[str, Any]

    @classmethod
    def load(cls, archive: Path = ARCHIVE) -> Image:
        with tarfile.open(archive) as tar:
            [entry] = json.loads(_read(tar, "index.json"))["manifests"]
            manifest = json.loads(_read(tar, _blob(entry["digest"])))
            config = json.loads(_read(tar, _blob(manifest["config"]["digest"])))
        return cls(archive, entry["digest"], manifest, config)

    def layers(self) -> list[list[tarfile.TarInfo]]:
        """Each layer's entries, as its tar lists them."""
        with tarfile.open(self.archive) as tar:
            return [_members(tar, layer["digest"]) for layer in self.manifest["layers"]]

    def unpack(self, target: Path) -> Path:
        """The root file system, layer over layer (whiteouts applied), as a container runtime lays it out."""
        target.mkdir(parents=True, exist_ok=True)
        target.chmod(0o755)  # a container's / (pytest's directories are 0700)
        with tarfile.open(self.archive) as tar:
            for layer in self.manifest["layers"]:
                blob = tar.extractfile(_blob(layer["digest"]))
                assert blob is not None
                with tarfile.open(fileobj=blob, mode="r|*") as files:
                    for member in files:
                        _place(files, member, target)
        return target

    def entrypoint(self) -> list[str]:
        settings = self.config["config"]
        return [*settings.get("Entrypoint", []), *settings.get("Cmd", [])]

    def env(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.config["config"].get("Env", []))


def _blob(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    assert handle is not None, name
    return handle.read()


def _members(tar: tarfile.TarFile, digest: str) -> list[tarfile.TarInfo]:
    blob = tar.extractfile(_blob(digest))
    assert blob is not None
    with tarfile.open(fileobj=blob, mode="r|*") as layer:
        return list(layer)


def _place(layer: tarfile.TarFile, member: tarfile.TarInfo, root: Path) -> None:
    path = root / member.name.lstrip("/")
    if path.name.startswith(".wh."):  # a whiteout: the lower layers' file (or, opaque, directory content) goes
        doomed = [*path.parent.iterdir()] if path.name == ".wh..wh..opq" else [path.parent / path.name[4:]]
        for gone in doomed:
            if gone.is_dir() and not gone.is_symlink():
                shutil.rmtree(gone)
            else:
                gone.unlink(missing_ok=True)
        return
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    layer.extract(member, root, set_attrs=not member.isdir() or not path.exists(), filter="fully_trusted")


# A private mount namespace: the root bound read-only, an emptyDir on /tmp, /proc and /dev, then chroot to the
# image's root as UID:GID with no supplementary groups; the host's network stays (the sandbox is on 127.0.0.1).
_RUN = r"""
root=$1; shift
mount --bind "$root" "$root"
mount -t tmpfs -o size=64m,mode=1777 tmpfs "$root/tmp"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -o remount,bind,ro "$root"
exec chroot --userspec=65532:65532 --groups= "$root" "$@"
"""


def command(root: Path, argv: list[str]) -> list[str]:
    """`argv` run in the unpacked image at `root`, as the chart's pod runs it."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-euc", _RUN, "image", str(root), *argv]


def environment(image: Image, **env: str) -> dict[str, str]:
    """The image's environment plus `env`: nothing of this machine's (no HOME, no USER, no PATH of ours)."""
    return {**image.env(), **env}


def uid_of(pid: int) -> int:
    """The real UID of a running process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def stage(root: Path, files: dict[str, Path]) -> dict[str, str]:
    """Copy files (the sandbox's kubeconfig, its CA) into the image's root, readable by UID 65532, as a kubelet
    mounts a ConfigMap; their paths inside the image, by key."""
    inside = Path("/etc/acs-smtp-operator/mounted")
    (root / inside.relative_to("/")).mkdir(parents=True, exist_ok=True)
    placed = {}
    for key, source in files.items():
        target = root / inside.relative_to("/") / source.name
        shutil.copyfile(source, target)
        os.chmod(target, 0o644)
        placed[key] = str(inside / source.name)
    return placed
