"""The policy file, read once: its report part becomes a `Policy`, its scanners' keys a
`ScanPolicy` (carried as `Policy.scan`), and its `[ceilings]` serve both.

It sits at the pipeline's level (`reports` and `scanners` each own their part's model and
know nothing of the file). The file's keys are documented in `sandbench.reports.policy`
and `sandbench.scanners.policy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sandbench.errors import PolicyError, read_toml, validation_lines
from sandbench.reports import BUILT_IN_LIMITS, Policy, SignaturePolicy
from sandbench.scanners import SCAN_KEYS, Ceilings, scan_policy

__all__ = ["load_policy", "parse_policy"]


def load_policy(path: Path | str) -> Policy:
    """Read a policy TOML file over the built-in policy. Raises `PolicyError`, a line a problem."""
    source = Path(path)
    return parse_policy(read_toml(source, PolicyError), source)


def parse_policy(table: dict[str, Any], source: Path) -> Policy:
    """A policy from a parsed TOML table (a whole file, or pyproject's `[tool.sandbench]`)
    over the built-in policy; `source` names it in errors and anchors relative paths."""
    data = dict(table)
    for section, values in BUILT_IN_LIMITS.items():
        if isinstance(data.get(section), dict):
            data[section] = {**values, **data[section]}
    scan_data = {k: data.pop(k) for k in SCAN_KEYS if k in data}
    try:
        policy = Policy.model_validate({**data, "source": str(source)})
    except ValidationError as exc:
        raise PolicyError(source, validation_lines(exc)) from None
    ceilings = Ceilings.model_validate(policy.ceilings.sandbox().numbers())
    try:
        scan = scan_policy(scan_data, ceilings)
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
