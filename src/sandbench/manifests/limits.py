"""Every limit a module runs under, declared once.

A row of `LIMITS` says all there is to say about one limit: its key (in `security.limits`,
in a policy's `[defaults]` and `[ceilings]`, in a nightly profile), the number a sandbox
enforces (`SandboxLimits`' field), the unit and the parser of its text, the built-in
default and ceiling, how people see a value, and the violation a module that breaks it
gets. The manifest's `ManifestLimits`, the policy's limit tables, the scanners' ceilings,
the manifest lint, the runtime's clamping, the report's applied limits and the renderers'
limit line are all made from this table; a new limit is a new row, plus its enforcement in
each backend.

`network` is not a row: it is a rate (or none), not a number with a ceiling on one scale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, NamedTuple

from pydantic import BeforeValidator, Field, WithJsonSchema

from .units import format_bytes, format_duration, format_size, parse_cpu, parse_duration, parse_size

__all__ = ["LIMITS", "LimitSpec", "limit", "limit_fields", "not_enforced"]

_SIZE_SCHEMA = {
    "type": ["string", "integer"],
    # Exactly the units `parse_size` knows: B, kB, KiB, Ki, ... in any case.
    "pattern": r"^\d+(\.\d+)?\s*([kKmMgGtT]([iI][bB]?|[bB])|[bB])?$",
    "examples": ["256MB", "512MiB", "1GB"],
    "description": "bytes; SI (kB, MB, GB) or IEC (KiB, MiB, GiB, Ki, Mi, Gi) units",
}
_CPU_SCHEMA = {
    "type": ["string", "number"],
    "pattern": r"^\d+(\.\d+)?m?$",
    "examples": ["250m", "0.5", "2"],
    "description": "CPU as in Kubernetes: millicores (250m) or cores (0.5, 2)",
}
_DURATION_SCHEMA = {
    "type": "string",
    "pattern": r"^\d+(\.\d+)?\s*(ms|s|m)$",
    "examples": ["2s", "500ms"],
}


_COUNT_SCHEMA = {
    "type": ["integer", "string"],
    "pattern": r"^\d+$",
    "examples": [64, 256],
    "description": "a count",
}


def parse_count(value: object) -> int:
    """Parse a count (`64`, `"64"`): a whole number from 1 to 1,048,576."""
    text = str(value).strip() if isinstance(value, int | str) and value is not True else ""
    if not text.isdigit() or not 0 < int(text) <= 1 << 20:
        raise ValueError("expected a whole number from 1 to 1048576")
    return int(text)


def _millicores(value: int) -> str:
    return f"{value}m"


def _ms(value: int) -> str:
    return f"{value} ms"


class LimitSpec(NamedTuple):
    """One limit. `text` writes a value so that `parse` reads it back exactly; `shown` writes
    it for people; `unit` names the scale in lint messages (`bytes` shows as a size);
    `unenforced` names the `runtime.abi`s no backend enforces it for, each with why (the
    manifest lint and the report say so)."""

    name: str
    field: str
    unit: str
    parse: Callable[[object], int]
    text: Callable[[int], str]
    shown: Callable[[int], str]
    schema: dict[str, Any]
    default: str
    ceiling: str
    violation: str
    declared: bool = True
    summary: bool = True
    unenforced: tuple[tuple[str, str], ...] = ()

    @property
    def default_value(self) -> int:
        """The built-in default, as the number a sandbox enforces."""
        return self.parse(self.default)

    @property
    def ceiling_value(self) -> int:
        """The built-in ceiling, as the number a sandbox enforces."""
        return self.parse(self.ceiling)

    def manifest_type(self) -> Any:
        """The type of this limit's field in `security.limits` (None: not declared)."""
        number = Annotated[int, BeforeValidator(self.parse), WithJsonSchema(self.schema)]
        return Annotated[number | None, Field(default=None)]


# docs/abi.md, "Open files": the reason in full.
_COMPONENT_FILES = (
    "wasmtime links WASI 0.2 whole, natively, with no hook through which sandbench could "
    "count the files a component opens"
)

LIMITS: tuple[LimitSpec, ...] = (
    LimitSpec(
        "memory", "memory_bytes", "bytes", parse_size, format_size, format_bytes,
        _SIZE_SCHEMA, "128MiB", "1GiB", "memory",
    ),
    LimitSpec(
        "cpu", "cpu_millicores", "millicores", parse_cpu, _millicores, _millicores,
        _CPU_SCHEMA, "1", "2", "cpu",
    ),
    LimitSpec(
        "timeout", "timeout_ms", "ms", parse_duration, format_duration, _ms,
        _DURATION_SCHEMA, "2s", "30s", "timeout",
    ),
    LimitSpec(
        "output", "output_bytes", "bytes", parse_size, format_size, format_bytes,
        _SIZE_SCHEMA, "1MiB", "16MiB", "output", declared=False,
    ),
    LimitSpec(
        "storage", "storage_bytes", "bytes", parse_size, format_size, format_bytes,
        _SIZE_SCHEMA, "100MiB", "10GiB", "storage", summary=False,
    ),
    LimitSpec(
        "files", "files", "files", parse_count, str, str,
        _COUNT_SCHEMA, "1024", "65536", "files",
        unenforced=(("component", _COMPONENT_FILES),),
    ),
    LimitSpec(
        "hostcalls", "host_calls", "calls", parse_count, str, str,
        _COUNT_SCHEMA, "1000", "100000", "hostcalls", summary=False,
    ),
)  # fmt: skip


def limit(name: str) -> LimitSpec:
    """The row named `name`. Raises `KeyError` for a name that is not a limit."""
    for spec in LIMITS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def limit_fields(
    kind: Callable[[LimitSpec], Any],
    specs: Iterable[LimitSpec] = LIMITS,
    key: Callable[[LimitSpec], str] = lambda spec: spec.name,
) -> dict[str, Any]:
    """One annotation per limit, typed `kind(spec)` and named `key(spec)`, for a pydantic
    model's class body: `__annotations__.update(limit_fields(...))`.

    This is how the models made from the table get their fields while staying plain
    classes that other models can name as a field type (put a default in the type with
    `Annotated[..., Field(default=...)]`).
    """
    return {key(spec): kind(spec) for spec in specs}


def not_enforced(abi: str | None) -> tuple[tuple[LimitSpec, str], ...]:
    """The limits no backend enforces for a module of `runtime.abi` `abi` (None: a runtime
    without one), each with a sentence saying so and why (the manifest lint and the report
    show it: nobody may believe such a limit holds)."""
    return tuple(
        (spec, f"not enforced for runtime.abi {abi}: {why}")
        for spec in LIMITS
        for name, why in spec.unenforced
        if name == abi
    )
