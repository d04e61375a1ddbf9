"""distillguard: defend LLM APIs against adversarial distillation.

The pipeline, one sub-package per stage:
ingest → features → detectors → campaigns → decide → evaluate / report → intel, with
simulate/ producing labelled worlds and service/ running the same engine live (engine/).
"""

from distillguard._version import __version__
from distillguard.errors import ConfigError, DistillGuardError, InputError, PolicyViolation, SchemaError
from distillguard.findings import Campaign, Findings, Reason, read_findings, write_findings

__all__ = [
    "Campaign", "ConfigError", "DistillGuardError", "Findings", "InputError", "PolicyViolation",
    "Reason", "SchemaError", "__version__", "read_findings", "write_findings",
]
