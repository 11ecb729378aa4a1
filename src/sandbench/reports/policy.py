"""The policy: default limits, ceilings and thresholds that map evidence to a status.

The built-in policy follows the platform's own targets. A TOML file (`--policy FILE`, read
by `sandbench.policy.load_policy`) overrides any part of it; what it leaves out keeps the
built-in value. The limit tables hold one key per row of `sandbench.manifests.LIMITS`:

```toml
version = 1
max_load_ms = 500          # load (from the compile cache) above this: degraded
p95_degraded_ms = 100      # health/load-test p95 above this: degraded
p95_critical_ms = 500      # ... above this: critical
max_error_rate = 0.005     # above this: critical (the canary rollback threshold)
unsigned = "degraded"      # a module without a signature
critical_severities = ["critical", "high"]
degraded_severities = ["medium"]
required_scans = ["pip-audit"]      # a scanner that could not run here is critical
gate_deadline_s = 120      # the whole gate stops here, cleans up and fails (gate-deadline)
compile_memory = "1GiB"    # compiling a module's wasm may use this much address space ...
compile_timeout_s = 180    # ... and this long; past either: a one-line error, exit 2
# the scanners' keys (fail_on, max_advisory_age_days, osv_url, bandit_skips, scan_budget_s,
# [licenses], [[ignore]])
# sit at this level too: see sandbench.scanners.policy

[signatures]               # publisher signatures (module.sig); paths relative to this file
# allowed_signers = "allowed_signers" # none built in: who may publish what (git's format)
# revoked = "revoked_keys"            # none built in: revoked public keys, one a line
unsigned = "degraded"                 # no module.sig, or a key the file lacks (when judged)

[defaults]                 # limits a manifest does not declare
memory = "128MiB"
cpu = "1"
timeout = "2s"
output = "1MiB"
storage = "100MiB"

[ceilings]                 # declared limits above these are cut down (degraded)
memory = "1GiB"
cpu = "2"
timeout = "30s"
output = "16MiB"
storage = "10GiB"
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from sandbench.manifests import LIMITS, LimitSpec, limit_fields, parse_size
from sandbench.sandbox import CompileBounds, SandboxLimits
from sandbench.scanners import ScanPolicy

from .model import Status

__all__ = ["BUILT_IN_LIMITS", "Policy", "PolicyLimits", "SignaturePolicy"]

BUILT_IN_LIMITS: dict[str, dict[str, str]] = {
    "defaults": {spec.name: spec.default for spec in LIMITS},
    "ceilings": {spec.name: spec.ceiling for spec in LIMITS},
}

_Severity = Literal["critical", "high", "medium", "low", "info"]


def _policy_type(spec: LimitSpec) -> Any:
    return Annotated[int, BeforeValidator(spec.parse)]


class PolicyLimits(BaseModel):
    """A set of limits written with units, as in a manifest: one field per `LIMITS` row,
    named by its key (`memory`, `cpu`, ...); read one with `getattr(limits, spec.name)`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The class declares no field of its own, so it sets its annotations outright (an
    # `update` would reach the module's).
    __annotations__ = limit_fields(_policy_type)

    def sandbox(self) -> SandboxLimits:
        """These limits as the numbers a sandbox enforces."""
        return SandboxLimits.model_validate({s.field: getattr(self, s.name) for s in LIMITS})

    def text(self) -> dict[str, str]:
        """The limits written with units again (what `model_validate` reads back exactly)."""
        return {spec.name: spec.text(getattr(self, spec.name)) for spec in LIMITS}


class SignaturePolicy(BaseModel):
    """`[signatures]`: the trust store for publisher signatures and how unsigned modules fare.

    Without `allowed_signers` the `publisher-signature` rule judges no signer: it still
    fails a bad or revoked signature, but `unsigned` does not apply.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_signers: Path | None = None
    revoked: Path | None = None
    unsigned: Status = Status.DEGRADED


class Policy(BaseModel):
    """Defaults, ceilings and thresholds. The built-in values follow the platform's targets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    defaults: PolicyLimits = PolicyLimits.model_validate(BUILT_IN_LIMITS["defaults"])
    ceilings: PolicyLimits = PolicyLimits.model_validate(BUILT_IN_LIMITS["ceilings"])
    max_load_ms: float = Field(default=500.0, gt=0)
    p95_degraded_ms: float = Field(default=100.0, gt=0)
    p95_critical_ms: float = Field(default=500.0, gt=0)
    max_error_rate: float = Field(default=0.005, ge=0, le=1)
    unsigned: Status = Status.DEGRADED
    critical_severities: tuple[_Severity, ...] = ("critical", "high")
    degraded_severities: tuple[_Severity, ...] = ("medium",)
    required_scans: tuple[str, ...] = ("pip-audit",)
    signatures: SignaturePolicy = SignaturePolicy()
    gate_deadline_s: float = Field(default=120.0, gt=0, le=3600)
    compile_memory: Annotated[int, BeforeValidator(parse_size)] = CompileBounds().memory
    compile_timeout_s: float = Field(default=CompileBounds().timeout_s, gt=0, le=3600)
    scan: ScanPolicy = Field(default_factory=ScanPolicy, exclude=True)
    source: str = Field(default="built-in", exclude=True)

    def compile_bounds(self) -> CompileBounds:
        """The bounds of one compile (`compile_memory`, `compile_timeout_s`)."""
        return CompileBounds(memory=self.compile_memory, timeout_s=self.compile_timeout_s)

    def status_for_severity(self, severity: str) -> Status | None:
        """The status a finding of `severity` sets, or None when it sets none."""
        if severity in self.critical_severities:
            return Status.CRITICAL
        if severity in self.degraded_severities:
            return Status.DEGRADED
        return None
