#!/usr/bin/env bash
# Build etcd, kube-apiserver and kube-controller-manager from their Go modules into tests/.bin/.
# Go's module and build caches make a warm rebuild take seconds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../.bin"
mkdir -p "$out"
cd "$here"
# The version the release build stamps (clients such as the workload identity webhook parse it).
version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
minor="$(echo "$version" | cut -d. -f2)"
stamp="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
stamp="$stamp -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
time go build -trimpath -ldflags="-s -w $stamp" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  ./cmd/etcd
"$out/kube-apiserver" --version

# The Azure Workload Identity mutating webhook (the one AKS runs), for tests/integration/test_workload_identity.py.
cd "$here/../webhook"
time go build -trimpath -ldflags="-s -w" -o "$out/azure-wi-webhook" github.com/Azure/azure-workload-identity/cmd/webhook
