"""The health report, a superset of the platform's `ModuleHealthCheck`.

JSON keys are camelCase, as the platform's are. Units: `loadTime` and every `...Ms` in
milliseconds, `errorRate` a fraction (0.005 = 0.5 %), `memoryUsage` bytes of peak linear
memory (0: not measured, as for WASM components, whose memories wasmtime-py does not
expose), `cpuUsage` millicores: the module's CPU time over the health calls (for WASM, the
CPU time of the thread that ran each call, measured, the unit `limits.cpu` is enforced in)
per wall second of them, the waits the CPU share imposed included and counted as at least
one second, the window `limits.cpu` holds over (`assess._cpu_millicores`).

`Evidence` is what the pipeline hands to `assess`; `HealthReport` is what comes out.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sandbench._camel import CAMEL
from sandbench.bench import LoadTestResult, LoadTimes, ProbeResult, Stats
from sandbench.manifests import (
    LIMITS,
    Author,
    HealthExpect,
    PublisherCheck,
    PublisherStatus,
    format_bytes,
    limit,
    limit_fields,
)
from sandbench.runtime import AppliedLimits
from sandbench.sandbox import Request, Violation
from sandbench.scanners import ModuleParts, ScanResult

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "AuthorReport",
    "DependencyStatus",
    "Evidence",
    "FindingReport",
    "GateDeadline",
    "HealthProbe",
    "HealthReport",
    "HostApiReport",
    "HostCallReport",
    "HostLogReport",
    "LimitsApplied",
    "LoadReport",
    "LoadTestReport",
    "Metrics",
    "PublisherReport",
    "RuleResult",
    "ScannerRunReport",
    "SignatureReport",
    "SignatureStatus",
    "Skipped",
    "Status",
    "ToolInfo",
    "ViolationReport",
]

REPORT_SCHEMA_VERSION = "1.0"


class _Camel(BaseModel):
    model_config = CAMEL


class Status(StrEnum):
    """The verdict, in increasing severity."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for healthy, 1 for degraded, 2 for critical."""
        return list(Status).index(self)


class DependencyStatus(StrEnum):
    """A dependency's state, as the platform's `metrics.dependencies` has it."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class SignatureStatus(StrEnum):
    """Whether the manifest's `signature` matches the module digest."""

    VALID = "valid"
    MISMATCH = "mismatch"
    UNSIGNED = "unsigned"


class Metrics(_Camel):
    """The platform's `ModuleHealthCheck.metrics`."""

    load_time: float
    error_rate: float
    memory_usage: int
    cpu_usage: float
    dependencies: dict[str, DependencyStatus] = Field(default_factory=dict)

    @property
    def memory_shown(self) -> str:
        """`memory_usage` for people: `not measured` when it is 0."""
        return format_bytes(self.memory_usage) if self.memory_usage else "not measured"


class RuleResult(_Camel):
    """One policy rule's verdict on the evidence: `healthy` when it passed.

    `inconclusive`: the measurement could not decide (a latency taken while the machine was
    too busy to tell the module's share from the machine's); the status is then `healthy`
    and `message` says why and what was measured.
    """

    rule: str
    status: Status
    message: str
    inconclusive: bool = False

    @property
    def outcome(self) -> str:
        """`inconclusive`, or the status's value."""
        return "inconclusive" if self.inconclusive else self.status.value


class ThresholdReport(_Camel):
    """A numeric limit of the policy that a rule compares a measurement with (for charts)."""

    rule: str
    label: str
    value: float
    unit: str = Field(description="ms, or ratio for a rate (0.005 = 0.5 %)")
    failed: bool = Field(description="the rule fired at this threshold")


class ViolationReport(_Camel):
    """A violation as reported: what, when, how often."""

    kind: str
    message: str
    phase: str
    exit_code: int | None = None
    count: int = 1
    detail: str = ""


class LimitsApplied(_Camel):
    """The limits the sandbox enforced."""

    # One number per row of `manifests.LIMITS`, named by its `field` (`memoryBytes` in JSON).
    __annotations__.update(limit_fields(lambda _: int, key=lambda spec: spec.field))
    network: str
    clamped: tuple[str, ...] = ()

    def value(self, name: str) -> int:
        """The number enforced for the limit `name` (`memory`, `cpu`, ...)."""
        return int(getattr(self, limit(name).field))

    def shown_value(self, name: str) -> str:
        """The limit `name` for people (`128.0 MiB`, `1000m`, `2000 ms`)."""
        return limit(name).shown(self.value(name))

    @property
    def shown(self) -> str:
        """One line for people: each limit of the summary, then the request rate."""
        values = [f"{s.name} {self.shown_value(s.name)}" for s in LIMITS if s.summary]
        return ", ".join([*values, f"network {self.network}"])


class SignatureReport(_Camel):
    """The digest sandbench computed and how the manifest's signature compares."""

    status: SignatureStatus
    digest: str
    declared: str | None = None


class PublisherReport(_Camel):
    """The publisher signature (`module.sig`) and what the trust store says of its key."""

    status: PublisherStatus
    message: str
    judged: bool = Field(description="false when no allowed-signers file was given")
    key_type: str | None = None
    key_fingerprint: str | None = Field(default=None, description="as `ssh-keygen -l` prints it")
    principal: str | None = Field(
        default=None, description="the allowed-signers principals that vouch for the module"
    )
    signer: str | None = Field(default=None, description="the allowed-signers line's comment")
    allowed_signers: str | None = None
    revoked_keys: str | None = None

    @property
    def shown(self) -> str:
        """One line for people: the status, who vouches and the key's fingerprint."""
        who = f" by {self.principal}" if self.principal else ""
        signer = f" ({self.signer})" if self.signer else ""
        key = f", key {self.key_type} {self.key_fingerprint}" if self.key_fingerprint else ""
        judged = "" if self.judged else " (signer not judged: no allowed-signers file)"
        return f"{self.status.value}{who}{signer}{key}{judged}"


class AuthorReport(_Camel):
    """`author` from the manifest; `verified` is computed, whatever the manifest claims."""

    name: str | None = None
    email: str | None = None
    url: str | None = None
    verified: bool = Field(description="true only for a good signature by an allowed signer")
    claimed_verified: bool = Field(default=False, description="what module.json says")
    principal: str | None = None


class LoadReport(_Camel):
    """Cold and warm load times (ms)."""

    cold_ms: float
    compile_ms: float
    warm_ms: Stats | None = None
    cache_hit: bool = False
    cold_measured_at: datetime | None = Field(
        default=None,
        description="when the cold load was measured, if it is the compile recorded with the "
        "cached artifact (`--cold` measures afresh); absent when this run compiled",
    )


class HealthProbe(_Camel):
    """The manifest's health request and what came back."""

    method: str
    path: str
    expect_status: int
    calls: int
    ok: int
    statuses: list[int | None]
    latency_ms: Stats | None = None
    samples_ms: list[float] = Field(default_factory=list, description="each call's latency")
    cpu_samples_ms: list[float] = Field(
        default_factory=list, description="each call's CPU time (the sandbox's usage.cpu_ms)"
    )
    sample_body: str = ""
    stderr_dropped_bytes: int = Field(
        default=0, description="stderr bytes written past the 16 KiB kept per call, summed"
    )


class FindingReport(_Camel):
    """A scanner's finding as reported."""

    scanner: str
    rule_id: str
    severity: str
    confidence: str
    message: str
    path: str | None = None
    line: int | None = None
    fingerprint: str
    remediation: str | None = None


class ScannerRunReport(_Camel):
    """One scanner's run: how many findings, or why it could not run, and its database."""

    scanner: str
    findings: int
    skipped_reason: str | None = None
    summary: str = ""
    database: str | None = Field(
        default=None, description="the advisory database used and its age, for pip-audit"
    )
    elapsed_ms: float = 0.0


class LoadTestReport(_Camel):
    """The gate's short HTTP load test through the gateway (open model, loopback)."""

    target_rps: float
    duration_s: float
    requests: int
    errors: int
    error_rate: float
    achieved_rps: float
    latency_ms: Stats = Field(
        description="from intended send times (coordinated omission corrected)"
    )
    service_ms: Stats = Field(description="from actual send times")
    thresholds: list[str] = Field(default_factory=list, description="each with what was measured")
    warnings: list[str] = Field(default_factory=list)


class Skipped(_Camel):
    """A check that could not run, and why. Never silently dropped."""

    check_id: str
    reason: str


class ToolInfo(_Camel):
    """What produced the report."""

    name: str = "sandbench"
    version: str
    backend: str
    policy: str = "built-in"
    components: dict[str, str] = Field(
        default_factory=dict, description="versions of the engines, scanners and databases used"
    )


class HostCallReport(_Camel):
    """Host API calls with the same capability, action, target, result and detail, grouped."""

    capability: str
    action: str
    target: str
    code: str = Field(description="ok, or why it failed: denied, rate, quota, not-found, ...")
    detail: str = ""
    count: int = 1
    first_at: datetime


class HostLogReport(_Camel):
    """One structured log line a module wrote through the host API."""

    level: str
    message: str
    fields: dict[str, object] = Field(default_factory=dict)


class HostApiReport(_Camel):
    """What the module did through the host API during the health calls."""

    calls: list[HostCallReport] = Field(default_factory=list, description="every call, grouped")
    denied: list[HostCallReport] = Field(
        default_factory=list, description="calls a permission (denied) or a limit refused"
    )
    logs: list[HostLogReport] = Field(default_factory=list)
    dropped_log_bytes: int = 0
    dropped_calls: int = 0


class HealthReport(_Camel):
    """The health report of one module."""

    schema_version: str = REPORT_SCHEMA_VERSION
    module_id: str
    version: str
    status: Status
    metrics: Metrics
    last_check: datetime
    reasons: list[str] = Field(description="ids of the rules that set the status")
    rules: list[RuleResult]
    thresholds: list[ThresholdReport] = Field(
        default_factory=list, description="the policy's numeric thresholds, as charts draw them"
    )
    violations: list[ViolationReport] = Field(default_factory=list)
    limits: LimitsApplied
    signature: SignatureReport
    author: AuthorReport | None = None
    publisher: PublisherReport | None = None
    load: LoadReport
    health: HealthProbe | None = None
    load_test: LoadTestReport | None = None
    findings: list[FindingReport] = Field(default_factory=list)
    scans: list[ScannerRunReport] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    tool: ToolInfo
    host_api: HostApiReport | None = Field(
        default=None, description="host API calls and logs; absent when the module made none"
    )
    parts: ModuleParts | None = Field(default=None, description="the module's parts, for SBOMs")


class GateDeadline(BaseModel):
    """The gate's overall deadline (policy `gate_deadline_s`), its time, and what it cut short."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit_s: float
    elapsed_s: float
    cut: tuple[str, ...] = Field(default=(), description="the steps stopped or not started")


class Evidence(BaseModel):
    """Everything a `check` gathered about one module, before any verdict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    module_id: str
    version: str
    digest: str
    declared_signature: str | None
    publisher: PublisherCheck | None = None
    author: Author | None = None
    applied: AppliedLimits
    backend: str
    tool_version: str
    load: LoadTimes
    load_violation: Violation | None = None
    dependencies: dict[str, bool] = Field(
        default_factory=dict, description="imported interface -> provided by the host"
    )
    request: Request
    expect: HealthExpect
    probe: ProbeResult | None = None
    load_test: LoadTestResult | None = None
    scans: tuple[ScanResult, ...] = ()
    components: dict[str, str] = Field(default_factory=dict)
    skipped: tuple[Skipped, ...] = ()
    deadline: GateDeadline | None = None
    checked_at: datetime
    parts: ModuleParts | None = None
