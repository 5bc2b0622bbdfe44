#!/usr/bin/env bash
# `make image`: the Dockerfile built without a Docker engine (buildah, chroot isolation, vfs storage) on a base made
# of Debian packages with mmdebstrap, written as an OCI archive, with its SBOM (CycloneDX, from what the image holds).
# Needs root and `apt-get install -y buildah mmdebstrap`. In build/image/:
#   acs-smtp-operator.oci.tar   the image, named localhost/acs-smtp-operator:<version>
#   sbom.cdx.json               every Python distribution in the image's venv (cyclonedx-py environment)
#   build.json                  version, image id, base, seconds per step
# IMAGE_BASE names another base (default: the mmdebstrap one, built once and kept in buildah's storage).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in buildah mmdebstrap; do
  command -v "$tool" >/dev/null || {
    echo "$tool is missing: apt-get update && apt-get install -y buildah mmdebstrap" >&2
    exit 3
  }
done
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
out=build/image
mkdir -p "$out"
version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
name=localhost/acs-smtp-operator:$version
base=${IMAGE_BASE:-localhost/acs-smtp-operator-base:bookworm}
started=$SECONDS

# The base: Debian bookworm's Python 3.11 (and its pip 23.0.1, older than the official image's: a test of the lock).
if [ -z "${IMAGE_BASE:-}" ] && ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  mmdebstrap --quiet --variant=apt --include=python3,python3-venv,python-is-python3,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' bookworm "$out/base.tar"
  c=$(buildah from scratch)
  buildah add --quiet "$c" "$out/base.tar" /
  buildah commit --quiet --rm "$c" "$base" >/dev/null
  rm -f "$out/base.tar"
fi
base_seconds=$((SECONDS - started))

# This machine's pip settings (index, trusted hosts, CA bundle) reach the build as secrets, never as a layer; the
# pip.conf written for it (an index URL may hold a password) is private and removed afterwards.
private=$(mktemp -d)
cleanup() { rm -rf "$private"; }
trap cleanup EXIT
(umask 077 && .venv/bin/python scripts/pipconf.py "$private/pip.conf" >"$private/cert")
cert=$(cat "$private/cert")
secrets=(--secret "id=pip.conf,src=$private/pip.conf")
[ -n "$cert" ] && secrets+=(--secret "id=pip-cert,src=$cert")

buildah bud --quiet --layers=false --pull=false --build-arg "BASE=$base" "${secrets[@]}" -t "$name" . >/dev/null
rm -f "$out/acs-smtp-operator.oci.tar"
buildah push --quiet "$name" "oci-archive:$out/acs-smtp-operator.oci.tar:$name"
build_seconds=$((SECONDS - started - base_seconds))

# The SBOM, read from the image's own venv: a throwaway venv on this machine whose site-packages is the image's.
c=$(buildah from --pull=false "$name")
root=$(buildah mount "$c")
cleanup() { rm -rf "$private"; buildah umount "$c" >/dev/null; buildah rm "$c" >/dev/null; }
python3 -m venv --without-pip --clear "$out/sbom-env"
site=$(echo "$out"/sbom-env/lib/python3*/site-packages)
rm -rf "$site"
ln -s "$root/opt/venv/lib/python3.11/site-packages" "$site"
.venv/bin/cyclonedx-py environment --pyproject pyproject.toml --output-reproducible -o "$out/sbom.cdx.json" "$out/sbom-env"
rm -rf "$out/sbom-env"
id=$(buildah inspect --type image --format '{{.FromImageID}}' "$name")
# The archive is the product: buildah's copy (vfs keeps whole layers) and earlier builds' go; the base stays.
buildah umount "$c" >/dev/null && buildah rm "$c" >/dev/null
cleanup() { rm -rf "$private"; }
buildah rmi "$name" >/dev/null
buildah rmi --prune >/dev/null 2>&1 || true

printf '{"version": "%s", "name": "%s", "id": "%s", "base": "%s", "baseSeconds": %d, "buildSeconds": %d}\n' \
  "$version" "$name" "$id" "$base" "$base_seconds" "$build_seconds" >"$out/build.json"
cat "$out/build.json"
