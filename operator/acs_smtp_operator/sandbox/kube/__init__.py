"""A Kubernetes API emulator built on kmock: enough of kube-apiserver for kopf and kubectl."""

from acs_smtp_operator.sandbox.kube.emulator import KubeEmulator

__all__ = ["KubeEmulator"]
