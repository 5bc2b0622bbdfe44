//go:build tools

// Package tools pins the Azure Workload Identity webhook that the end-to-end tests run against the real
// control plane (tests/controlplane/build.sh builds it into tests/.bin/).
package tools

import _ "github.com/Azure/azure-workload-identity/cmd/webhook"
