"""The local cloud: Kubernetes, ARM, Microsoft Graph, Entra and ACS SMTP emulators on 127.0.0.1."""

from acs_smtp_operator.sandbox.runner import Sandbox, run_sandbox
from acs_smtp_operator.sandbox.seed import Seed, load_seed

__all__ = ["Sandbox", "Seed", "load_seed", "run_sandbox"]
