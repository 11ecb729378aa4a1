"""Cells of the matrix, applying known axes to a policy and a backend, and shards."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from sandbench.errors import PolicyError, ShardError, validation_lines
from sandbench.policy import load_policy
from sandbench.reports import Policy, PolicyLimits
from sandbench.sandbox import BackendKind

from .config import KNOWN_AXES, NightlyConfig

__all__ = [
    "Cell",
    "Shard",
    "backend_for",
    "cells",
    "parse_shard",
    "policy_for",
    "source_digest",
]


class Cell(BaseModel):
    """One combination of axis values; `key` is its stable name, e.g. `backend=wasm,profile=small`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    axes: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        """`axis=value` pairs joined by commas, in the config's axis order."""
        return ",".join(f"{axis}={value}" for axis, value in self.axes)

    def get(self, axis: str, default: str) -> str:
        """The value of `axis` in this cell, or `default` when the matrix does not vary it."""
        return dict(self.axes).get(axis, default)


def cells(config: NightlyConfig) -> list[Cell]:
    """Every combination of the matrix's values, in a stable order."""
    names = [axis for axis, _ in config.matrix]
    values = [vals for _, vals in config.matrix]
    return [
        Cell(axes=tuple(zip(names, combo, strict=True))) for combo in itertools.product(*values)
    ]


def policy_for(cell: Cell, config: NightlyConfig) -> Policy:
    """The policy a cell runs under: its `policy` file (else built-in), then its `profile`.

    Raises `PolicyError` for a bad policy file or profile, naming it.
    """
    unknown = [axis for axis, _ in cell.axes if axis not in KNOWN_AXES]
    if unknown:  # the config refuses these; a hand-made cell must not slip through either
        raise ShardError(f"matrix axis {unknown[0]!r} is not known to this build")
    policy_file = cell.get("policy", "")
    base = load_policy(config.source.parent / policy_file) if policy_file else Policy()
    profile = cell.get("profile", "default")
    if profile == "default":
        return base
    update = {}
    for part, overrides in config.profiles[profile].items():
        current = getattr(base, part).text()
        try:
            update[part] = PolicyLimits.model_validate({**current, **overrides})
        except ValidationError as exc:
            lines = validation_lines(exc, f"profiles.{profile}.{part}")
            raise PolicyError(config.source, lines) from None
    return base.model_copy(update=update)


def backend_for(cell: Cell) -> BackendKind:
    """The sandbox backend a cell names (default `wasm`)."""
    value = cell.get("backend", BackendKind.WASM.value)
    try:
        return BackendKind(value)
    except ValueError:
        known = ", ".join(k.value for k in BackendKind)
        raise ShardError(f"matrix.backend: {value!r} is not built in; expected {known}") from None


class Shard(BaseModel):
    """Shard `index` of `count` (0-based, as Kubernetes' JOB_COMPLETION_INDEX)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = 0
    count: int = 1

    def owns(self, module_id: str, cell: Cell) -> bool:
        """Whether this shard runs the module in that cell: a stable hash, the same on every machine."""
        digest = hashlib.sha256(f"{module_id}\0{cell.key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`I/N` as a `Shard`. Raises `ShardError` with the expected form."""
    index, sep, count = text.partition("/")
    try:
        shard = Shard(index=int(index), count=int(count))
    except ValueError:
        shard = None
    if not sep or shard is None or shard.count < 1 or not 0 <= shard.index < shard.count:
        raise ShardError(f"--shard: {text!r} is invalid; expected I/N with 0 <= I < N, e.g. 0/4")
    return shard


def source_digest(path: Path) -> str:
    """SHA-256 over a module's files (or an archive's bytes): a new digest means a new module.

    Independent of the manifest's validity, so a module that fails to load has one too.
    """
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        h.update(file.relative_to(path if path.is_dir() else path.parent).as_posix().encode())
        h.update(b"\0")
        h.update(file.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
