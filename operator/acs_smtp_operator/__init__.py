"""acs-smtp-operator: Azure Communication Services SMTP credentials as a Kubernetes custom resource."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("acs-smtp-operator")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
