"""WASM capability analysis: what the module imports against what its permissions grant.

The entry file is read by `wasm_binary` (`.wasm`) or `wat` (`.wat`); nothing is compiled.

| rule | severity | when |
|---|---|---|
| `undeclared-filesystem` | high | WASI `path_*` / `fd_readdir` calls without a `storage:` permission |
| `undeclared-socket` | high | WASI `sock_*` imports without an `api:external:` permission (low with one: sockets bypass the egress allow-list, use `http_fetch`) |
| `undeclared-host-capability` | high | a `sandbench:host/v1` function whose permission the manifest does not declare |
| `unknown-host-function` | high | a `sandbench:host/v1` name that the platform does not provide |
| `unknown-import` | high | an import from any other namespace: the module will not link |
| `unused-permission` | low | a permission that no import can use (least privilege) |
| `missing-export` | critical | an export the ABI requires is absent (`_start`, `memory`; `sandbench_alloc`, `sandbench_handle`) |
| `export-signature` | critical | a required export has the wrong type |
| `malformed-module` | critical | the entry file is not a readable module, or not of its `runtime.abi` (a component declared `command`, a core module declared `component`) |

Components (`runtime.abi: component`) are judged by `component_caps`.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbench.manifests import ModulePackage, Permission, Resource, WasmRuntime

from ._support.capability_rules import (
    HOST_FUNCTIONS,
    HOST_NAMESPACE,
    NAME,
    PermissionIndex,
    finding,
    unused,
)
from ._support.component_binary import ComponentShape, is_component, read_component_file
from ._support.component_caps import scan_component
from ._support.files import read_capped
from ._support.wasm_binary import (
    CORE_VERSION,
    MAX_BYTES,
    FuncType,
    WasmFormatError,
    WasmShape,
    read_wasm,
)
from ._support.wat import read_wat
from .interface import Finding, ScanResult, Severity

__all__ = ["HOST_FUNCTIONS", "HOST_NAMESPACE", "CapabilityScanner", "read_shape"]

WASI = "wasi_snapshot_preview1"
_I32 = "i32"
_REQUIRED: dict[str, dict[str, FuncType | None]] = {
    "command": {"memory": None, "_start": FuncType((), ())},
    "reactor": {
        "memory": None,
        "sandbench_alloc": FuncType((_I32,), (_I32,)),
        "sandbench_handle": FuncType((_I32, _I32), ("i64",)),
    },
}


def read_shape(package: ModulePackage) -> WasmShape | ComponentShape:
    """The entry file's imports and exports: a `ComponentShape` for `abi: component`.

    Raises `ValueError` (`WasmFormatError` among them) for a link, an oversized or a
    malformed entry or one that does not match `runtime.abi`, `OSError` when it cannot
    be read.
    """
    entry = package.entry_path
    runtime = package.manifest.runtime
    if isinstance(runtime, WasmRuntime) and runtime.abi == "component":
        try:
            return read_component_file(entry)  # checks that it is a regular file first
        except WasmFormatError:
            with entry.open("rb") as handle:
                if handle.read(8)[4:] != CORE_VERSION:
                    raise
            raise ValueError(
                "it is a core WebAssembly module, not a component: set runtime.abi to "
                "command or reactor, or build it with `sandbench build`"
            ) from None
    data = read_capped(entry, MAX_BYTES)
    if entry.suffix == ".wat":
        return read_wat(data.decode("utf-8"))
    if is_component(data):
        raise ValueError(
            "it is a WebAssembly component: set runtime.abi to component (docs/abi.md)"
        )
    return read_wasm(data)


class CapabilityScanner:
    """See the module docstring."""

    name = NAME

    def scan(self, package: ModulePackage) -> ScanResult:
        """See `Scanner.scan`."""
        runtime = package.manifest.runtime
        if not isinstance(runtime, WasmRuntime):
            return ScanResult(scanner=NAME, summary="not a WASM module: no imports to judge")
        entry = runtime.entry
        try:
            shape = read_shape(package)
        except (ValueError, OSError) as exc:
            bad = finding(
                "malformed-module", Severity.CRITICAL, f"cannot read {entry}: {exc}", entry, entry
            )
            return ScanResult(scanner=NAME, findings=(bad,))
        if isinstance(shape, ComponentShape):
            return scan_component(shape, package, entry)
        perms = package.manifest.security.permissions
        findings = (*_imports(shape, perms, entry), *_exports(shape, package, entry))
        return ScanResult(
            scanner=NAME,
            findings=tuple(findings),
            summary=f"{len(shape.imports)} imports, {len(shape.exports)} exports",
        )


def _imports(shape: WasmShape, perms: tuple[Permission, ...], entry: str) -> Iterator[Finding]:
    used: set[Resource] = set()
    index = PermissionIndex(perms)  # once: a module may have 200,000 imports
    for imp in shape.imports:
        where = f"{imp.module}.{imp.name}"
        if imp.module == WASI:
            yield from _wasi(imp.name, where, index, entry, used)
        elif imp.module == HOST_NAMESPACE:
            yield from _host(imp.name, where, index, entry, used)
        else:
            yield finding(
                "unknown-import",
                Severity.HIGH,
                f"imports {where}: only {WASI} and {HOST_NAMESPACE} exist, the module will not link",
                entry,
                where,
            )
    for perm in perms:
        if perm.resource not in used:
            yield unused(perm, "no import can use it")


def _wasi(
    name: str, where: str, index: PermissionIndex, entry: str, used: set[Resource]
) -> Iterator[Finding]:
    if name.startswith("path_") or name == "fd_readdir":
        used.add(Resource.STORAGE)
        if not index.granted(Resource.STORAGE, ("read", "write")):
            yield finding(
                "undeclared-filesystem",
                Severity.HIGH,
                f"imports {where} (filesystem) but declares no storage: permission",
                entry,
                where,
            )
    elif name.startswith("sock_"):
        used.add(Resource.API)
        allowed = index.granted(Resource.API, ("external",))
        yield finding(
            "undeclared-socket",
            Severity.LOW if allowed else Severity.HIGH,
            f"imports {where} (raw sockets)"
            + (
                ": sockets bypass the egress allow-list, use http_fetch"
                if allowed
                else " but declares no api:external: permission"
            ),
            entry,
            where,
        )


def _host(
    name: str, where: str, index: PermissionIndex, entry: str, used: set[Resource]
) -> Iterator[Finding]:
    if name not in HOST_FUNCTIONS:
        known = ", ".join(sorted(HOST_FUNCTIONS))
        yield finding(
            "unknown-host-function",
            Severity.HIGH,
            f"imports {where}, which the platform does not provide (known: {known})",
            entry,
            where,
        )
        return
    need = HOST_FUNCTIONS[name]
    if need is None:
        return
    resource, actions = need
    used.add(resource)
    if not index.granted(resource, actions):
        wanted = " or ".join(f"{resource.value}:{a}:..." for a in actions)
        yield finding(
            "undeclared-host-capability",
            Severity.HIGH,
            f"imports {where} but declares no {wanted} permission",
            entry,
            where,
        )


def _exports(shape: WasmShape, package: ModulePackage, entry: str) -> Iterator[Finding]:
    runtime = package.manifest.runtime
    abi = runtime.abi if isinstance(runtime, WasmRuntime) else "command"
    have = {e.name: e for e in shape.exports}
    for name, sig in _REQUIRED[abi].items():
        export = have.get(name)
        kind = "memory" if sig is None else "func"
        if export is None or export.kind != kind:
            yield finding(
                "missing-export",
                Severity.CRITICAL,
                f"the {abi} ABI needs an exported {kind} {name!r} (docs/abi.md)",
                entry,
                name,
            )
        elif sig is not None and export.type is not None and export.type != sig:
            yield finding(
                "export-signature",
                Severity.CRITICAL,
                f"export {name!r} has type {export.type}, the {abi} ABI needs {sig}",
                entry,
                name,
            )
