#!/usr/bin/env bash
# Build etcd, kube-apiserver and kube-controller-manager from their Go modules into tests/.bin/.
# Go's module and build caches make a warm rebuild take seconds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../.bin"
mkdir -p "$out"
cd "$here"
time go build -trimpath -ldflags="-s -w" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  ./cmd/etcd
"$out/kube-apiserver" --version
