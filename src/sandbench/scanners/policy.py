"""The scanners' part of the policy, the ignores it carries, and the baseline file.

These keys live at the top level of the one policy file (`--policy FILE`, read by
`sandbench.policy.load_policy`, which also holds the gate's thresholds and the `[ceilings]`
that the manifest lint uses); every key is optional:

```toml
fail_on = "high"                       # findings at or above this severity fail the scan
max_advisory_age_days = 30             # a local store whose newest record is older: medium
osv_url = "https://api.osv.dev/v1/query"  # optional: an OSV API (after --osv-url and $SANDBENCH_OSV_URL)
bandit_skips = ["B101"]                # bandit test ids not to run
scan_budget_s = 30                     # a scanner still running after this is "not done"
[licenses]
allow = ["MIT", "Apache-2.0", "BSD-3-Clause"]
deny = ["AGPL-3.0-only", "GPL-3.0-only"]
[[ignore]]
rule = "B602"                          # a rule id, or a finding's fingerprint
path = "app/tools.py"                  # optional: only in this file
reason = "input is a constant"         # required
expires = 2027-01-31                   # optional: from that day on the ignore stops applying
```

A baseline (`--write-baseline FILE`, then `--baseline FILE`) is JSON: the fingerprints of
the findings accepted when it was written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbench.errors import ScanInputError, validation_lines
from sandbench.manifests import LimitSpec, limit_fields

from .interface import Finding, Severity

__all__ = [
    "SCAN_KEYS",
    "Ceilings",
    "Ignore",
    "LicensePolicy",
    "ScanPolicy",
    "Suppressed",
    "apply_suppressions",
    "load_baseline",
    "scan_policy",
    "write_baseline",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _ceiling_type(spec: LimitSpec) -> Any:
    return Annotated[int, Field(default=spec.ceiling_value, gt=0)]


class Ceilings(BaseModel):
    """The highest limits a manifest may declare: one field per `LIMITS` row, named by its
    `field` (`memory_bytes`, ...) with the built-in ceiling as default, plus the request
    rate. The policy file's `[ceilings]` replace the defaults."""

    model_config = _STRICT

    __annotations__.update(limit_fields(_ceiling_type, key=lambda spec: spec.field))
    network_per_minute: float = 6000.0


class LicensePolicy(BaseModel):
    """SPDX ids allowed and denied; an id in neither list is flagged for review."""

    model_config = _STRICT

    allow: tuple[str, ...] = (
        "MIT",
        "Apache-2.0",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "ISC",
        "PSF-2.0",
        "Python-2.0",
        "MPL-2.0",
        "Zlib",
        "0BSD",
        "Unlicense",
        "LLVM-exception",
    )
    deny: tuple[str, ...] = (
        "AGPL-3.0-only",
        "AGPL-3.0-or-later",
        "AGPL-3.0",
        "SSPL-1.0",
        "BUSL-1.1",
    )


class Ignore(BaseModel):
    """One policy ignore: a rule id (or fingerprint), a reason and an optional expiry."""

    model_config = _STRICT

    rule: str = Field(min_length=1)
    path: str | None = None
    reason: str = Field(min_length=1)
    expires: date | None = None

    def active(self, today: date) -> bool:
        """False from the expiry day on."""
        return self.expires is None or today < self.expires

    def matches(self, finding: Finding) -> bool:
        """True when the finding has this rule id (or fingerprint) and, if given, this path."""
        if self.rule not in (finding.rule_id, finding.fingerprint):
            return False
        return self.path is None or (
            finding.path is not None and finding.path.as_posix() == self.path
        )


class ScanPolicy(BaseModel):
    """What the scanners check against and what fails a scan."""

    model_config = _STRICT

    fail_on: Severity = Severity.HIGH
    max_advisory_age_days: float | None = 30.0
    osv_url: str | None = Field(default=None, pattern=r"^https?://")
    bandit_skips: tuple[str, ...] = ()
    licenses: LicensePolicy = LicensePolicy()
    ceilings: Ceilings = Ceilings()
    ignore: tuple[Ignore, ...] = ()
    scan_budget_s: float = Field(default=30.0, gt=0, le=3600)


class Suppressed(BaseModel):
    """A finding left out of the result, and what left it out."""

    model_config = _STRICT

    finding: Finding
    by: str  # "baseline" or "ignore"
    reason: str


SCAN_KEYS = (
    "fail_on",
    "max_advisory_age_days",
    "osv_url",
    "bandit_skips",
    "licenses",
    "ignore",
    "scan_budget_s",
)


def scan_policy(data: Mapping[str, Any], ceilings: Ceilings | None = None) -> ScanPolicy:
    """The scanners' part of a policy file: the `SCAN_KEYS` of its top level.

    The ceilings are the report policy's (one `[ceilings]` table serves both). Raises
    `ValueError` with one line per problem, naming the field.
    """
    try:
        policy = ScanPolicy.model_validate({k: v for k, v in data.items() if k in SCAN_KEYS})
    except ValidationError as exc:
        raise ValueError("\n".join(validation_lines(exc))) from None
    return policy if ceilings is None else policy.model_copy(update={"ceilings": ceilings})


def load_baseline(path: Path) -> frozenset[str]:
    """The fingerprints in a baseline file. Raises `ScanInputError` when it is unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScanInputError(path, f"cannot read the baseline: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ScanInputError(path, f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    prints = data.get("fingerprints") if isinstance(data, dict) else None
    if not isinstance(prints, list) or not all(isinstance(p, str) for p in prints):
        raise ScanInputError(
            path, 'expected {"fingerprints": [...]} (write one with --write-baseline)'
        )
    return frozenset(prints)


def write_baseline(path: Path, findings: list[Finding]) -> None:
    """Write the fingerprints of `findings` (sorted, deduplicated) to `path`."""
    prints = sorted({f.fingerprint for f in findings})
    path.write_text(json.dumps({"version": 1, "fingerprints": prints}, indent=2) + "\n")


def apply_suppressions(
    findings: tuple[Finding, ...],
    ignores: tuple[Ignore, ...],
    baseline: frozenset[str],
    today: date,
) -> tuple[tuple[Finding, ...], tuple[Suppressed, ...]]:
    """Split findings into those that stand and those a baseline or active ignore covers."""
    kept: list[Finding] = []
    gone: list[Suppressed] = []
    active = [i for i in ignores if i.active(today)]
    for finding in findings:
        ignore = next((i for i in active if i.matches(finding)), None)
        if ignore is not None:
            gone.append(Suppressed(finding=finding, by="ignore", reason=ignore.reason))
        elif finding.fingerprint in baseline:
            gone.append(Suppressed(finding=finding, by="baseline", reason="in the baseline"))
        else:
            kept.append(finding)
    return tuple(kept), tuple(gone)
