"""The nightly CONFIG.toml: which modules, which matrix, how each cell runs.

```toml
[nightly]
mode = "check"          # or "gate" (adds the scanners)
calls = 10              # health calls per round: the samples regressions are judged on
rounds = 6              # at most this many rounds per cell, interleaved with its neighbours
min_rounds = 2          # at least this many; between the two the data decide (`precision`)
precision = 0.03        # stop once the 95 % interval of the night's ratio is within +-3 %
cell_budget = 60        # seconds of wall clock per cell over all its rounds
warm_runs = 3           # warm loads per round (0: load once)
cold_load = true        # false: no fresh compile per round (load.cold_ms is then not stored)
interleave = 8          # cells per interleaving window (a window finishes before the next)
pairing = "calls"       # with a [baselines] artifact: "calls" (both loaded side by side, their
                        # calls alternated in blocks) or "rounds" (whole checks, ABBA rounds)
pair_calls = 8          # calls per side in a block ("calls" pairing)
max_blocks = 400        # at most this many blocks a cell (and cell_budget seconds of blocks)
cell_timeout = 120      # seconds of wall clock per cell; the worker is killed past it
store = "nightly.db"    # SQLite file, or a postgresql:// URL

[modules]
paths = ["modules/*", "index.txt"]   # folders, globs, archives, index files (*.txt)

[baselines]             # module id -> its last known-good artifact, run interleaved with it
"modules/vendas" = "known-good/vendas"

[baseline_axes.profile] # a cell with profile=small runs beside the same module's default cell
small = "default"

[matrix]                # axis -> values; every combination is one cell
backend = ["wasm"]
profile = ["default", "small"]

[profiles.small]        # a limit profile overrides the policy's defaults and ceilings
defaults = { memory = "16MiB", cpu = "250m" }
ceilings = { memory = "32MiB", cpu = "500m", timeout = "2s" }
```
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbench.errors import ConfigError, read_toml, validation_lines
from sandbench.reports import Policy, PolicyLimits

__all__ = [
    "KNOWN_AXES",
    "ModuleRef",
    "NightlyConfig",
    "load_config",
]

KNOWN_AXES = ("backend", "policy", "profile")
INDEX_SUFFIXES = (".txt", ".list")
_GLOB_CHARS = frozenset("*?[")


class ModuleRef(BaseModel):
    """One module of the run: a stable id (its path as written, relative) and where it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    path: Path


class _Nightly(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["check", "gate"] = "check"
    calls: int = Field(default=30, ge=1, le=10_000)
    rounds: int = Field(default=6, ge=1, le=100)
    min_rounds: int = Field(default=2, ge=1, le=100)
    precision: float = Field(default=0.03, gt=0)
    cell_budget: float = Field(default=60.0, gt=0)
    warm_runs: int = Field(default=3, ge=0, le=100)
    cold_load: bool = True
    interleave: int = Field(default=8, ge=1, le=10_000)
    pairing: Literal["calls", "rounds"] = "calls"
    pair_calls: int = Field(default=8, ge=2, le=1000)
    max_blocks: int = Field(default=400, ge=12, le=100_000)
    cell_timeout: float = Field(default=120.0, gt=0)
    store: str = "nightly.db"
    cache_dir: str | None = None


class _Modules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    paths: list[str] = Field(min_length=1)


class _Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: dict[str, str] = Field(default_factory=dict)
    ceilings: dict[str, str] = Field(default_factory=dict)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nightly: _Nightly = Field(default_factory=_Nightly)
    modules: _Modules
    matrix: dict[str, list[str]] = Field(default_factory=lambda: {"backend": ["wasm"]})
    baselines: dict[str, str] = Field(default_factory=dict)
    baseline_axes: dict[str, dict[str, str]] = Field(default_factory=dict)
    profiles: dict[str, _Profile] = Field(default_factory=dict)


class NightlyConfig(BaseModel):
    """A validated CONFIG.toml with its module list resolved to paths."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Path
    mode: Literal["check", "gate"]
    calls: int
    rounds: int
    min_rounds: int = 1
    precision: float = 0.03
    cell_budget: float = 60.0
    warm_runs: int = 3
    cold_load: bool = True
    interleave: int
    pairing: Literal["calls", "rounds"] = Field(
        default="calls",
        description="how a [baselines] artifact is paired: alternated calls in blocks, or "
        "whole checks in ABBA rounds",
    )
    pair_calls: int = 8
    max_blocks: int = 400
    cell_timeout: float
    store: str
    cache_dir: Path | None
    modules: tuple[ModuleRef, ...]
    baselines: dict[str, Path] = Field(
        default_factory=dict, description="module id -> its last known-good artifact"
    )
    matrix: tuple[tuple[str, tuple[str, ...]], ...]
    profiles: dict[str, dict[str, dict[str, str]]]
    baseline_axes: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="axis -> {value: the previous value whose cell is the baseline}",
    )


def load_config(path: Path | str) -> NightlyConfig:
    """Read and validate CONFIG.toml. Raises `ConfigError`, one line per problem."""
    source = Path(path)
    raw = read_toml(source, ConfigError)
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, validation_lines(exc)) from None
    problems = _matrix_problems(parsed)
    if problems:
        raise ConfigError(source, problems)
    base = source.parent
    store = parsed.nightly.store
    if "://" not in store:
        store = str(base / store)
    cache = parsed.nightly.cache_dir
    modules = resolve_modules(source, parsed.modules.paths)
    return NightlyConfig(
        source=source,
        mode=parsed.nightly.mode,
        calls=parsed.nightly.calls,
        rounds=parsed.nightly.rounds,
        min_rounds=min(parsed.nightly.min_rounds, parsed.nightly.rounds),
        precision=parsed.nightly.precision,
        cell_budget=parsed.nightly.cell_budget,
        warm_runs=parsed.nightly.warm_runs,
        cold_load=parsed.nightly.cold_load,
        interleave=parsed.nightly.interleave,
        pairing=parsed.nightly.pairing,
        pair_calls=parsed.nightly.pair_calls,
        max_blocks=parsed.nightly.max_blocks,
        cell_timeout=parsed.nightly.cell_timeout,
        store=store,
        cache_dir=None if cache is None else base / cache,
        modules=modules,
        baselines=_baselines(source, parsed.baselines, modules),
        matrix=tuple((axis, tuple(values)) for axis, values in parsed.matrix.items()),
        profiles={name: p.model_dump() for name, p in parsed.profiles.items()},
        baseline_axes=parsed.baseline_axes,
    )


def _baseline_axes_problems(parsed: _File) -> list[str]:
    """`[baseline_axes.AXIS]`: value -> previous value, both values of that matrix axis."""
    problems = []
    for axis, pairs in parsed.baseline_axes.items():
        values = parsed.matrix.get(axis)
        if values is None:
            problems.append(f"baseline_axes.{axis}: not an axis of [matrix]")
            continue
        problems += [
            f"baseline_axes.{axis}.{value}: {v!r} is not a value of matrix.{axis}"
            for value, previous in pairs.items()
            for v in (value, previous)
            if v not in values
        ]
        problems += [
            f"baseline_axes.{axis}.{value}: a cell cannot be its own baseline"
            for value, previous in pairs.items()
            if value == previous
        ]
    return problems


def _matrix_problems(parsed: _File) -> list[str]:
    problems = _baseline_axes_problems(parsed)
    for axis, values in parsed.matrix.items():
        if axis not in KNOWN_AXES:
            problems.append(
                f"matrix.{axis}: unknown axis; this build applies {', '.join(KNOWN_AXES)}"
            )
        elif not values:
            problems.append(f"matrix.{axis}: empty; give at least one value")
        elif len(set(values)) != len(values):
            problems.append(f"matrix.{axis}: a value is listed twice")
    for name, profile in parsed.profiles.items():
        for part, limits in (("defaults", profile.defaults), ("ceilings", profile.ceilings)):
            problems.extend(_limit_problems(f"profiles.{name}.{part}", limits))
    problems.extend(
        f"matrix.profile: {name!r} has no [profiles.{name}] table"
        for name in dict(parsed.matrix).get("profile", [])
        if name != "default" and name not in parsed.profiles
    )
    return problems


def _limit_problems(where: str, values: dict[str, str]) -> list[str]:
    """Each limit in a profile must parse as its unit; unknown names are refused."""
    fields = PolicyLimits.model_fields
    problems = [
        f"{where}.{key}: unknown limit; expected one of {', '.join(fields)}"
        for key in values
        if key not in fields
    ]
    known = {k: v for k, v in values.items() if k in fields}
    try:
        PolicyLimits.model_validate({**Policy().defaults.text(), **known})
    except ValidationError as exc:
        problems.extend(validation_lines(exc, where))
    return problems


def resolve_modules(source: Path, entries: list[str]) -> tuple[ModuleRef, ...]:
    """Expand folders, globs, archives and index files (one path a line, `#` comments)."""
    base = source.parent
    found: dict[str, ModuleRef] = {}
    for i, entry in enumerate(entries):
        where = f"modules.paths[{i}]"
        for ref in _expand(source, base, entry, where):
            found.setdefault(ref.id, ref)
    return tuple(found.values())


def _expand(source: Path, base: Path, entry: str, where: str) -> list[ModuleRef]:
    if _GLOB_CHARS & set(entry):
        matches = sorted(glob.glob(entry, root_dir=base))
        if not matches:
            raise ConfigError(source, [f"{where}: {entry!r} matches nothing under {base}"])
        return [ModuleRef(id=m, path=base / m) for m in matches]
    path = base / entry
    if not path.exists():
        raise ConfigError(source, [f"{where}: {entry!r} does not exist (relative to {base})"])
    if path.is_file() and path.suffix in INDEX_SUFFIXES:
        return _index(path, base)
    return [ModuleRef(id=entry, path=path)]


def _baselines(
    source: Path, entries: dict[str, str], modules: tuple[ModuleRef, ...]
) -> dict[str, Path]:
    """`[baselines]`: each key a module id of this run, each value an existing path."""
    ids = {ref.id for ref in modules}
    problems = [
        f"baselines.{key}: not a module of this run; keys are module ids as in modules.paths"
        for key in entries
        if key not in ids
    ]
    problems += [
        f"baselines.{key}: {value!r} does not exist (relative to {source.parent})"
        for key, value in entries.items()
        if not (source.parent / value).exists()
    ]
    if problems:
        raise ConfigError(source, problems)
    return {key: source.parent / value for key, value in entries.items()}


def _index(index: Path, base: Path) -> list[ModuleRef]:
    refs = []
    for number, raw in enumerate(index.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        path = index.parent / line
        if not path.exists():
            raise ConfigError(index, [f"line {number}: {line!r} does not exist"])
        refs.append(ModuleRef(id=path.relative_to(base).as_posix(), path=path))
    return refs
