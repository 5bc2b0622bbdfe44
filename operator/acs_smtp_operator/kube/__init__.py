"""Kubernetes adapters: the only modules that call the Kubernetes API directly (kopf aside)."""
