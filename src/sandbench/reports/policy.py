"""The policy: default limits, ceilings and thresholds that map evidence to a status.

The built-in policy follows the platform's own targets. A TOML file (`--policy FILE`)
overrides any part of it; what it leaves out keeps the built-in value:

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

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from sandbench.errors import PolicyError, validation_lines
from sandbench.manifests import parse_cpu, parse_duration, parse_size
from sandbench.sandbox import SandboxLimits
from sandbench.scanners import SCAN_KEYS, Ceilings, ScanPolicy, scan_policy

from .model import Status

__all__ = ["Policy", "PolicyLimits", "SignaturePolicy", "load_policy", "parse_policy"]

_BUILT_IN = {
    "defaults": {
        "memory": "128MiB",
        "cpu": "1",
        "timeout": "2s",
        "output": "1MiB",
        "storage": "100MiB",
    },
    "ceilings": {
        "memory": "1GiB",
        "cpu": "2",
        "timeout": "30s",
        "output": "16MiB",
        "storage": "10GiB",
    },
}

_Size = Annotated[int, BeforeValidator(parse_size)]
_Cpu = Annotated[int, BeforeValidator(parse_cpu)]
_Duration = Annotated[int, BeforeValidator(parse_duration)]
_Severity = Literal["critical", "high", "medium", "low", "info"]


class PolicyLimits(BaseModel):
    """A set of limits written with units, as in a manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory: _Size
    cpu: _Cpu
    timeout: _Duration
    output: _Size
    storage: _Size

    def sandbox(self) -> SandboxLimits:
        """These limits as the numbers a sandbox enforces."""
        return SandboxLimits(
            memory_bytes=self.memory,
            cpu_millicores=self.cpu,
            timeout_ms=self.timeout,
            output_bytes=self.output,
            storage_bytes=self.storage,
        )


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
    defaults: PolicyLimits = PolicyLimits.model_validate(_BUILT_IN["defaults"])
    ceilings: PolicyLimits = PolicyLimits.model_validate(_BUILT_IN["ceilings"])
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
    scan: ScanPolicy = Field(default_factory=ScanPolicy, exclude=True)
    source: str = Field(default="built-in", exclude=True)

    def scan_ceilings(self) -> Ceilings:
        """The ceilings as the manifest lint reads them."""
        return Ceilings(
            memory_bytes=self.ceilings.memory,
            cpu_millicores=self.ceilings.cpu,
            timeout_ms=self.ceilings.timeout,
            storage_bytes=self.ceilings.storage,
        )

    def status_for_severity(self, severity: str) -> Status | None:
        """The status a finding of `severity` sets, or None when it sets none."""
        if severity in self.critical_severities:
            return Status.CRITICAL
        if severity in self.degraded_severities:
            return Status.DEGRADED
        return None


def load_policy(path: Path | str) -> Policy:
    """Read a policy TOML file over the built-in policy. Raises `PolicyError`, a line a problem."""
    source = Path(path)
    try:
        data: dict[str, Any] = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(source, [f"cannot be read: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(source, [f"not valid TOML: {exc}"]) from None
    return parse_policy(data, source)


def parse_policy(table: dict[str, Any], source: Path) -> Policy:
    """A policy from a parsed TOML table (a whole file, or pyproject's `[tool.sandbench]`)
    over the built-in policy; `source` names it in errors and anchors relative paths."""
    data = dict(table)
    for section, values in _BUILT_IN.items():
        if isinstance(data.get(section), dict):
            data[section] = {**values, **data[section]}
    scan_data = {k: data.pop(k) for k in SCAN_KEYS if k in data}
    try:
        policy = Policy.model_validate({**data, "source": str(source)})
    except ValidationError as exc:
        raise PolicyError(source, validation_lines(exc)) from None
    try:
        scan = scan_policy(scan_data, policy.scan_ceilings())
    except ValueError as exc:
        raise PolicyError(source, str(exc).splitlines()) from None
    return policy.model_copy(update={"scan": scan, "signatures": _relative_to(policy, source)})


def _relative_to(policy: Policy, source: Path) -> SignaturePolicy:
    """`[signatures]` with its file paths taken relative to the policy file's folder."""
    found = policy.signatures
    update = {
        name: source.parent / path
        for name, path in (("allowed_signers", found.allowed_signers), ("revoked", found.revoked))
        if path is not None and not path.is_absolute()
    }
    return found.model_copy(update=update)
