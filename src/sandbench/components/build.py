"""`sandbench build`: a Python module folder -> a WebAssembly component (docs/components.md).

The module's `runtime.source` (e.g. `app.py`) defines `handle(request) -> Response`.
componentize-py bundles it with sandbench's entry (`guest/sandbench_main.py`), the guest
library (`guest/sandbench_guest.py`) and the world `wit/platform.wit`, pre-initialized: only
the modules imported while it builds are in the component. So the build first reads every
import of the module's files (functions included), refuses the ones the sandbox cannot
have (sockets, processes), and imports the rest up front.

Builds are cached on disk, keyed by the module's Python files, sandbench's guest files and
the componentize-py version: a rebuild of unchanged sources copies the cached component.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sandbench._pyast import parse
from sandbench._tree import walk
from sandbench.errors import BuildError, ManifestError
from sandbench.manifests import MANIFEST_NAME, WasmRuntime, load, parse_manifest, write_signature
from sandbench.progress import Progress, Steps
from sandbench.sandbox.cache import ArtifactCache, default_cache_dir

__all__ = ["BuildResult", "build", "componentize_py_version", "guest_files"]

_HERE = Path(__file__).parent
WORLD = "module"
ENTRY_MODULE = "sandbench_main"
APP_MODULE = "sandbench_app"
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".sandbench", ".venv", "venv"})
BUILD_TIMEOUT_S = 600
# What the sandbox cannot have, and what to use instead.
_MISSING = {
    "socket": "there are no sockets in the sandbox: use sandbench_guest.http_fetch",
    "ssl": "there are no sockets in the sandbox: use sandbench_guest.http_fetch",
    "select": "there are no sockets in the sandbox: use sandbench_guest.http_fetch",
    "selectors": "there are no sockets in the sandbox: use sandbench_guest.http_fetch",
    "asyncio": "there are no sockets or event loops in the sandbox: write a plain handle()",
    "subprocess": "there are no processes in the sandbox",
    "multiprocessing": "there are no processes in the sandbox",
    "threading": "there are no threads in the sandbox",
    "ctypes": "there is no native code loading in the sandbox",
    "sqlite3": "use sandbench_guest.db_query / db_execute with a database permission",
    "urllib.request": "there are no sockets in the sandbox: use sandbench_guest.http_fetch",
    "http.client": "there are no sockets in the sandbox: use sandbench_guest.http_fetch",
}


@dataclass(frozen=True)
class BuildResult:
    """What a build made."""

    component: Path
    size_bytes: int
    seconds: float
    cached: bool
    signature: str
    componentize_py: str


def componentize_py_version() -> str:
    """The installed componentize-py version (the one pinned in pyproject.toml)."""
    try:
        return importlib.metadata.version("componentize-py")
    except importlib.metadata.PackageNotFoundError:
        raise BuildError(
            "componentize-py",
            ["not installed; reinstall sandbench (`pip install sandbench`), which pins it"],
        ) from None


def guest_files() -> list[Path]:
    """sandbench's files bundled into every component: the entry, the library, the world."""
    return [
        _HERE / "guest" / "sandbench_main.py",
        _HERE / "guest" / "sandbench_guest.py",
        _HERE / "wit" / "platform.wit",
    ]


@dataclass(frozen=True)
class _Import:
    name: str
    file: str
    line: int
    optional: bool


def _python_files(root: Path) -> Iterator[Path]:
    for folder, dirs, files in walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(folder) / name


def _imports(root: Path, files: list[Path]) -> list[_Import]:
    """Every absolute import in the module's files; `optional` inside a try block."""
    found: list[_Import] = []
    for path in files:
        shown = path.relative_to(root).as_posix()
        try:
            tree = parse(path.read_bytes(), filename=shown)
        except SyntaxError as exc:
            raise BuildError(
                root / shown, [f"line {exc.lineno}: {exc.msg}; fix the syntax error"]
            ) from None
        except (OSError, ValueError) as exc:
            raise BuildError(root / shown, [f"cannot be read: {exc}"]) from None
        except (RecursionError, MemoryError):
            raise BuildError(
                root / shown, ["nested too deeply for Python's parser; simplify the file"]
            ) from None
        found += _Imports(shown).collect(tree)
    return found


class _Imports(ast.NodeVisitor):
    def __init__(self, shown: str) -> None:
        self._shown = shown
        self._try_depth = 0
        self.found: list[_Import] = []

    def collect(self, tree: ast.AST) -> list[_Import]:
        self.visit(tree)
        return self.found

    def visit_Try(self, node: ast.Try) -> None:
        self._try_depth += 1
        for child in node.body:
            self.visit(child)
        self._try_depth -= 1
        for other in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(other)

    visit_TryStar = visit_Try  # type: ignore[assignment]

    def _add(self, name: str, node: ast.stmt) -> None:
        self.found.append(_Import(name, self._shown, node.lineno, self._try_depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node)


def _refused(imports: list[_Import], root: Path) -> None:
    """Refuse, in one line each, the plain imports of what the sandbox cannot have."""
    refused = [item for item in imports if not item.optional and _why_missing(item.name)]
    if refused:
        raise BuildError(
            root / refused[0].file,
            [
                f"line {item.line}: imports {item.name}; {_why_missing(item.name)}"
                + ("" if item.file == refused[0].file else f" ({item.file})")
                for item in refused
            ],
        )


def _why_missing(name: str) -> str:
    return next(
        (why for bad, why in _MISSING.items() if name == bad or name.startswith(bad + ".")), ""
    )


def _app_text(source: str, imports: list[_Import]) -> str:
    """`sandbench_app.py`: the module's `handle`, and every module it imports, up front."""
    lines = [
        "# Generated by `sandbench build`: the module's handle, and every module it imports,",
        "# imported while the component is built (only those are bundled).",
        f"from {source} import handle as handle",
    ]
    seen: set[str] = set()
    for item in imports:
        if item.name in seen or item.name.partition(".")[0] == APP_MODULE:
            continue
        seen.add(item.name)
        if item.optional:
            if _why_missing(item.name):
                continue
            lines += ["try:", f"    import {item.name}", "except ImportError:", "    pass"]
        else:
            lines.append(f"import {item.name}")
    return "\n".join(lines) + "\n"


def _cache_key(root: Path, files: list[Path], app_text: str, version: str) -> str:
    digest = hashlib.sha256(f"componentize-py {version}\n".encode())
    for path in guest_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(app_text.encode() + b"\0")
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _executable() -> str:
    beside = Path(sys.executable).parent / "componentize-py"
    found = str(beside) if beside.is_file() else shutil.which("componentize-py")
    if found is None:
        raise BuildError(
            "componentize-py", ["not found on PATH; reinstall sandbench, which pins it"]
        )
    return found


def _sources(root: Path, work: Path, entry: Path) -> Path:
    """A copy of the module folder to build from: componentize-py writes `__pycache__`
    folders into the folders it imports from, and a build leaves the module's own untouched."""
    skipped = {entry.name, *_SKIP_DIRS}
    copy = work / "module"
    shutil.copytree(
        root, copy, symlinks=True, ignore=lambda _dir, names: [n for n in names if n in skipped]
    )
    return copy


def _componentize(root: Path, work: Path, out: Path, source: Path) -> None:
    command = [
        _executable(),
        "-d",
        str(work / "wit"),
        "-w",
        WORLD,
        "componentize",
        "-p",
        str(work),
        "-p",
        str(root),
        ENTRY_MODULE,
        "-o",
        str(out),
    ]
    # No VIRTUAL_ENV, and no python3 on PATH: componentize-py adds the site-packages of
    # both to its search path, so the build would bundle whatever the build machine has
    # installed instead of failing on an import that is not in the module folder.
    (work / "bin").mkdir(exist_ok=True)
    env = {"PATH": str(work / "bin"), "RUST_BACKTRACE": "0", "HOME": str(work)}
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            command,
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BuildError(
            source, [f"componentize-py ran for more than {BUILD_TIMEOUT_S} s; the build stopped"]
        ) from None
    if done.returncode != 0 or not out.is_file():
        raise BuildError(source, [_failure(done.stdout + done.stderr, root)])


_ERROR_RE = re.compile(r"^(\w+(?:Error|Exception|Exit)): (.*)$")
_FILE_RE = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)')
_MODULE_MOUNT = "/1/"


def _failure(output: str, root: Path) -> str:
    """One line from componentize-py's output: the Python error and where it was raised."""
    lines = [line.strip() for line in output.splitlines()]
    error = next((m for line in reversed(lines) if (m := _ERROR_RE.match(line))), None)
    if error is None:
        tail = next((line for line in reversed(lines) if line), "no output")
        return f"componentize-py failed: {tail[:300]}"
    kind, text = error.group(1), error.group(2)[:300]
    return _explain(kind, text, _where(output))


def _where(output: str) -> str:
    """The innermost traceback frame in the module's own files (componentize-py shows the
    module folder, its second `-p`, as /1/), else the innermost outside sandbench's."""
    ours, other = "", ""
    for match in _FILE_RE.finditer(output):
        file, line = match.group("file"), match.group("line")
        if file.startswith(_MODULE_MOUNT):
            ours = f" ({file.removeprefix(_MODULE_MOUNT)}, line {line})"
        elif Path(file).name not in (
            f"{ENTRY_MODULE}.py",
            f"{APP_MODULE}.py",
            "sandbench_guest.py",
        ):
            other = f" ({Path(file).name}, line {line})"
    return ours or other


def _explain(kind: str, text: str, where: str) -> str:
    """The one line for a Python error raised while the module was imported."""
    if kind == "ModuleNotFoundError":
        missing = text.removeprefix("No module named ").strip("'\"")
        return (
            f"imports {missing}{where}, which is neither in the component's Python standard "
            "library nor in the module folder; copy pure-Python dependencies into the module "
            "folder"
        )
    return f"running the module's top level while building raised {kind}: {text}{where}"


def _runtime(root: Path) -> tuple[WasmRuntime, str]:
    manifest_path = root / MANIFEST_NAME
    try:
        text = manifest_path.read_bytes()
    except OSError as exc:
        raise ManifestError(manifest_path, [f"cannot be read: {exc.strerror}"]) from None
    runtime = parse_manifest(text, manifest_path).runtime
    if not isinstance(runtime, WasmRuntime) or runtime.abi != "component" or not runtime.source:
        raise ManifestError(
            manifest_path,
            [
                "runtime: `sandbench build` needs kind wasm, abi component and source (the "
                'Python file to build), e.g. {"kind": "wasm", "abi": "component", '
                '"entry": "module.wasm", "source": "app.py"}'
            ],
        )
    return runtime, runtime.source


def build(
    module: Path | str,
    *,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> BuildResult:
    """Build the component of the module folder `module`, write it to `runtime.entry` and
    sign the manifest. Raises `BuildError` (one line per problem) when it cannot.
    `progress` hears each step (`sandbench.progress`)."""
    started = time.perf_counter()
    steps = Steps(progress, 3)
    steps.start("reading the sources")
    root = Path(module).resolve()
    runtime, source = _runtime(root)
    source_path = root / source
    if not source_path.is_file():
        raise BuildError(source_path, ["runtime.source: no such file in the module folder"])
    version = componentize_py_version()
    files = list(_python_files(root))
    imports = _imports(root, files)
    _refused(imports, root)
    app_text = _app_text(Path(source).stem, imports)
    cache = ArtifactCache((cache_dir or default_cache_dir()) / "builds", ".wasm")
    key = _cache_key(root, files, app_text, version)
    target = root / runtime.entry
    if not target.parent.resolve().is_relative_to(root) or target.is_symlink():
        raise BuildError(
            root / MANIFEST_NAME, [f"runtime.entry: {runtime.entry} leads out of the module folder"]
        )
    cached = cache.load(key) if use_cache else None
    with tempfile.TemporaryDirectory(prefix="sandbench-build-") as tmp:
        work = Path(tmp)
        out = work / "component.wasm"
        if cached is not None:
            steps.start("copying from the build cache")
            out.write_bytes(cached)
        else:
            steps.start("componentize-py")
            (work / "wit").mkdir()
            for path in guest_files():
                destination = work / ("wit" if path.suffix == ".wit" else "") / path.name
                shutil.copyfile(path, destination)
            (work / f"{APP_MODULE}.py").write_text(app_text, encoding="utf-8")
            _componentize(_sources(root, work, target), work, out, source_path)
            cache.put(key, out.read_bytes())
        _install(out, target)
    steps.start("signing")
    signature = write_signature(load(root))
    steps.finish("built")
    return BuildResult(
        component=target,
        size_bytes=target.stat().st_size,
        seconds=time.perf_counter() - started,
        cached=cached is not None,
        signature=signature,
        componentize_py=version,
    )


def _install(built: Path, target: Path) -> None:
    """Move the component into place atomically (a reader never sees half of it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".sandbench-", suffix=".wasm")
    try:
        with os.fdopen(fd, "wb") as handle, built.open("rb") as source:
            shutil.copyfileobj(source, handle)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
