"""Capability analysis of a WebAssembly component (`runtime.abi: component`).

The binary's top-level imports are read by `component_binary` (nothing is compiled). Any
import but the WASI 0.2 interfaces (`wasi:*@0.2.*`) and `sandbench:platform/host@1.0.0` (with its `types`) is an
`unknown-import`; no `handle` function export is a `missing-export`. WASI's filesystem and
sockets interfaces are not findings: every componentize-py component imports them, the
Python runtime links them, the sandbox grants neither. For a Python module
(`runtime.source`) the sources say what it uses (`pysource`):

| rule | severity | when |
|---|---|---|
| `undeclared-host-capability` | high | a `sandbench_guest` host call with no permission of its kind, or a literal bucket, schema or URL host that no permission grants |
| `undeclared-filesystem` | high | `open()` of a literal `/storage/BUCKET/...` path that no `storage:` permission grants (for writing: `storage:write:BUCKET`) |
| `file-outside-storage` | high | `open()` of a literal path outside `/storage`: the sandbox has no such file, the call fails with a `storage` violation |
| `unavailable-in-sandbox` | high | an import of a socket or process module (`import socket`, `importlib.import_module("subprocess")`, `__import__(...)`) or a call of `os.system`, `os.fork`, `os.exec*`, `os.spawn*`, `os.popen`: the sandbox has none, the call fails with a `network-denied` or `process` violation |
| `unreadable-source` | medium | a `.py` file that cannot be parsed (the build fails on it too); `unused-permission` is then not judged |
| `unused-permission` | low | a permission that no call or open in the sources can use |
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbench.hostapi.abi import HOST_INTERFACE, component_import_provided
from sandbench.manifests import ModulePackage, Permission, Resource, WasmRuntime
from sandbench.scanners.interface import Finding, ScanResult, Severity

from .capability_rules import HOST_FUNCTIONS, NAME, PermissionIndex, finding, unused
from .component_binary import ComponentShape
from .pysource import GUEST_MODULE, FileOpen, HostCallSite, PythonUse, python_use

__all__ = [
    "COMPONENT_EXPORT",
    "scan_component",
]

COMPONENT_EXPORT = "handle"


def scan_component(shape: ComponentShape, package: ModulePackage, entry: str) -> ScanResult:
    """See the module docstring; `shape` is what `read_component` found in `entry`."""
    perms = package.manifest.security.permissions
    findings = [*_component_imports(shape, entry), *_component_exports(shape, entry)]
    runtime = package.manifest.runtime
    if isinstance(runtime, WasmRuntime) and runtime.source:
        use = python_use(package.root)
        findings += _python(use, perms)
        summary = (
            f"{len(shape.imports)} imports, {len(shape.exports)} exports; "
            f"{use.files} Python files: {len(use.calls)} host calls, {len(use.opens)} file opens"
        )
    else:
        findings += _component_unused(shape, perms)
        summary = f"{len(shape.imports)} imports, {len(shape.exports)} exports; no Python source"
    return ScanResult(scanner=NAME, findings=tuple(findings), summary=summary)


def _component_imports(shape: ComponentShape, entry: str) -> Iterator[Finding]:
    for imp in shape.imports:
        if (imp.kind == "type" and imp.bound) or component_import_provided(imp.name):
            continue
        yield finding(
            "unknown-import",
            Severity.HIGH,
            f"imports {imp.name} ({imp.kind}): a component may import only WASI 0.2 "
            f"(wasi:*@0.2.*) and {HOST_INTERFACE}, the module will not link",
            entry,
            imp.name,
        )


def _component_exports(shape: ComponentShape, entry: str) -> Iterator[Finding]:
    if not any(e.name == COMPONENT_EXPORT and e.kind == "func" for e in shape.exports):
        yield finding(
            "missing-export",
            Severity.CRITICAL,
            f"the component ABI needs an exported func {COMPONENT_EXPORT!r} of the world "
            "sandbench:platform/module (docs/abi.md, Components)",
            entry,
            COMPONENT_EXPORT,
        )


def _component_unused(shape: ComponentShape, perms: tuple[Permission, ...]) -> Iterator[Finding]:
    """Without sources: a permission is usable when the binary imports what reaches it."""
    names = {imp.name.partition("@")[0] for imp in shape.imports}
    usable = set()
    if HOST_INTERFACE.partition("@")[0] in names:
        usable = {Resource.API, Resource.DATABASE, Resource.STORAGE}
    elif "wasi:filesystem/preopens" in names:
        usable = {Resource.STORAGE}
    for perm in perms:
        if perm.resource not in usable:
            yield unused(perm, "no import can use it")


def _python(use: PythonUse, perms: tuple[Permission, ...]) -> Iterator[Finding]:
    used: set[Permission] = set()
    index = _Fits(PermissionIndex(perms))
    for problem in use.problems:
        yield finding(
            "unreadable-source",
            Severity.MEDIUM,
            f"cannot analyse {problem}; `sandbench build` fails on it too",
            problem.partition(":")[0],
            problem,
        )
    for call in use.calls:
        yield from _host_call(call, index, used)
    for opened in use.opens:
        yield from _file_open(opened, index, used)
    for item in use.unavailable:
        yield finding(
            "unavailable-in-sandbox",
            Severity.HIGH,
            f"uses {item.what}: {item.why}",
            item.file,
            item.text,
            item.line,
        )
    if not use.problems:
        for perm in perms:
            if perm not in used:
                yield unused(perm, "no call or open in the Python sources can use it")


class _Fits:
    """`PermissionIndex` answers, each question asked once: 100,000 calls of the same
    function on the same target cost one lookup (and one update of the used set)."""

    def __init__(self, index: PermissionIndex) -> None:
        self._index = index
        self._seen: dict[tuple[Resource, tuple[str, ...], str | None], bool] = {}

    def fit(
        self,
        resource: Resource,
        actions: tuple[str, ...],
        target: str | None,
        used: set[Permission],
    ) -> bool:
        key = (resource, actions, target)
        if key not in self._seen:
            fit = (
                self._index.of_kind(resource, actions)
                if target is None
                else self._index.covering(resource, actions, target)
            )
            used.update(fit)
            self._seen[key] = bool(fit)
        return self._seen[key]


def _host_call(call: HostCallSite, index: _Fits, used: set[Permission]) -> Iterator[Finding]:
    need = HOST_FUNCTIONS[call.function]
    if need is None:
        return
    resource, actions = need
    if index.fit(resource, actions, call.target, used):
        return
    target = call.target
    shown = f"{GUEST_MODULE}.{call.function}" + (f"({target!r})" if target else "")
    wanted = " or ".join(f"{resource.value}:{a}:{target or '...'}" for a in actions)
    if resource is Resource.API and target:
        wanted = f"api:external:{target.rpartition(':')[0]}"
    yield finding(
        "undeclared-host-capability",
        Severity.HIGH,
        f"calls {shown} but declares no {wanted} permission",
        call.file,
        call.text,
        call.line,
    )


def _file_open(opened: FileOpen, index: _Fits, used: set[Permission]) -> Iterator[Finding]:
    how = "for writing" if opened.write else "for reading"
    parts = opened.path.split("/")
    if len(parts) < 3 or parts[1] != "storage":
        yield finding(
            "file-outside-storage",
            Severity.HIGH,
            f"opens {opened.path} {how}: the sandbox has no files outside /storage/BUCKET "
            "(granted by storage: permissions), the call fails with a storage violation",
            opened.file,
            opened.text,
            opened.line,
        )
        return
    bucket = parts[2]
    actions = ("write",) if opened.write else ("read", "write")
    if not index.fit(Resource.STORAGE, actions, bucket, used):
        yield finding(
            "undeclared-filesystem",
            Severity.HIGH,
            f"opens {opened.path} {how} but declares no storage:{actions[0]}:{bucket} permission",
            opened.file,
            opened.text,
            opened.line,
        )
