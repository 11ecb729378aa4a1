"""What a Python module's sources ask of the platform, read statically with `ast`.

A Python component always imports WASI's filesystem and sockets interfaces (the Python
runtime links them), so its binary says nothing about what the module uses. Its sources
do: the calls to the guest library's host API (`sandbench_guest.http_fetch`,
`storage_read/write/list`, `db_query/db_execute`, however imported) with their bucket,
schema or URL when it is a literal, the `open()` calls of literal paths, and what the
sandbox cannot have at all (sockets, processes), however it is imported or called.

Nothing is imported or run. What cannot be resolved statically (a target held in a
variable, a function reached through `getattr`) is reported without a target or not at
all: the sandbox still enforces the permissions at run time.

The work is linear in the size of the sources: each line quoted in a finding is cut to
`MAX_QUOTE` characters once, however many calls it holds (a 2 MB line of 100,000 calls
used to be copied whole for each of them).
"""

from __future__ import annotations

import ast
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sandbench._pyast import parse

from .files import module_files, read_capped

__all__ = ["GUEST_MODULE", "FileOpen", "HostCallSite", "PythonUse", "Unavailable", "python_use"]

GUEST_MODULE = "sandbench_guest"
MAX_SOURCE_BYTES = 2 * 1024 * 1024
MAX_QUOTE = 200
# Host function -> (positional index, keyword) of the argument that names its target.
TARGET_ARGUMENT: dict[str, tuple[int, str]] = {
    "http_fetch": (1, "url"),
    "storage_read": (0, "bucket"),
    "storage_write": (0, "bucket"),
    "storage_list": (0, "bucket"),
    "db_query": (0, "schema"),
    "db_execute": (0, "schema"),
    "log": (-1, ""),
}
_NO_SOCKETS = "there are no sockets in the sandbox: use sandbench_guest.http_fetch"
_NO_PROCESSES = "there are no processes in the sandbox"
# What the sandbox has none of (the guest's import guard refuses them at run time).
UNAVAILABLE_MODULES = {
    **dict.fromkeys(("socket", "_socket", "ssl", "_ssl", "select", "selectors"), _NO_SOCKETS),
    **dict.fromkeys(("urllib.request", "http.client", "asyncio"), _NO_SOCKETS),
    **dict.fromkeys(("subprocess", "_posixsubprocess", "multiprocessing", "pty"), _NO_PROCESSES),
}
_PROCESS_CALLS = ("system", "popen", "fork", "forkpty", "posix_spawn", "exec", "spawn")
_WRITE_MODES = frozenset("wax+")
_PATH_READS = frozenset({"read_text", "read_bytes"})
_PATH_WRITES = frozenset({"write_text", "write_bytes"})


@dataclass(frozen=True)
class HostCallSite:
    """A call of a host API function. `target` is the bucket, the schema or the URL's
    `host:port`, or None when it is not a literal."""

    function: str
    target: str | None
    file: str
    line: int
    text: str


@dataclass(frozen=True)
class FileOpen:
    """An `open()` (or `Path(...).open/read_*/write_*`) of a literal path, made absolute
    the way the sandbox sees it (relative to `/`)."""

    path: str
    write: bool
    file: str
    line: int
    text: str


@dataclass(frozen=True)
class Unavailable:
    """An import (`import x`, `importlib.import_module("x")`, `__import__("x")`) or a call
    (`os.system`, `os.fork`, ...) of what the sandbox has none of; `why` says what to use."""

    what: str
    why: str
    file: str
    line: int
    text: str


@dataclass
class PythonUse:
    """What the sources use, and the files that could not be read (`problems`)."""

    calls: list[HostCallSite] = field(default_factory=list)
    opens: list[FileOpen] = field(default_factory=list)
    unavailable: list[Unavailable] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: int = 0


def python_use(root: Path) -> PythonUse:
    """Analyse every `.py` file under `root` (links and environment folders skipped)."""
    use = PythonUse()
    for path in module_files(root):
        if path.suffix != ".py":
            continue
        shown = path.relative_to(root).as_posix()
        use.files += 1
        try:
            text = read_capped(path, MAX_SOURCE_BYTES).decode("utf-8")
            tree = parse(text, filename=shown)
            _Visitor(shown, text.splitlines(), use).visit(tree)
        except SyntaxError as exc:
            use.problems.append(f"{shown}: line {exc.lineno}: {exc.msg}")
        except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            use.problems.append(f"{shown}: cannot be read: {exc}")
        except (RecursionError, MemoryError):  # a hostile file: nesting deeper than CPython's
            use.problems.append(f"{shown}: nested too deeply to parse")
    return use


class _Visitor(ast.NodeVisitor):
    def __init__(self, shown: str, lines: list[str], use: PythonUse) -> None:
        self._shown, self._lines, self._use = shown, lines, use
        self._modules: set[str] = set()  # names bound to sandbench_guest
        self._functions: dict[str, str] = {}  # local name -> host function
        self._quotes: dict[int, str] = {}  # line index -> its text as findings quote it

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._imported(alias.name, node)
            if alias.name == GUEST_MODULE:
                self._modules.add(alias.asname or alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            self._imported(node.module, node)
        if node.module != GUEST_MODULE or node.level:
            return
        for alias in node.names:
            if alias.name == "*":
                self._functions.update({name: name for name in TARGET_ARGUMENT})
            elif alias.name in TARGET_ARGUMENT:
                self._functions[alias.asname or alias.name] = alias.name

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        function = self._host_function(node.func)
        if function is not None:
            self._use.calls.append(
                HostCallSite(
                    function, _target(function, node), self._shown, node.lineno, self._at(node)
                )
            )
            return
        imported = _dynamic_import(node)
        if imported is not None:
            self._imported(imported, node)
        started = _process_call(node.func)
        if started is not None:
            found = Unavailable(started, _NO_PROCESSES, self._shown, node.lineno, self._at(node))
            self._use.unavailable.append(found)
        opened = _opened(node)
        if opened is not None:
            path, write = opened
            full = posixpath.normpath(posixpath.join("/", path))
            self._use.opens.append(FileOpen(full, write, self._shown, node.lineno, self._at(node)))

    def _imported(self, module: str, node: ast.stmt | ast.expr) -> None:
        for name, why in UNAVAILABLE_MODULES.items():
            if module == name or module.startswith(name + "."):
                found = Unavailable(module, why, self._shown, node.lineno, self._at(node))
                self._use.unavailable.append(found)
                return

    def _host_function(self, func: ast.expr) -> str | None:
        if isinstance(func, ast.Name):
            return self._functions.get(func.id)
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in self._modules
            and func.attr in TARGET_ARGUMENT
        ):
            return func.attr
        return None

    def _at(self, node: ast.stmt | ast.expr) -> str:
        index = node.lineno - 1
        if index not in self._quotes:
            line = self._lines[index] if 0 <= index < len(self._lines) else ""
            self._quotes[index] = line.strip()[:MAX_QUOTE]
        return self._quotes[index]


def _dynamic_import(node: ast.Call) -> str | None:
    """The literal module of `importlib.import_module("x")` or `__import__("x")`."""
    if not (_is_attr(node.func, "importlib", "import_module") or _is_name(node.func, "__import__")):
        return None
    literal = _literal_prefix(_argument(node, 0, "name"))
    return literal[0] if literal is not None and literal[1] else None


def _process_call(func: ast.expr) -> str | None:
    """`os.system`, `os.execv`, ... when `func` starts a process."""
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "os"
        and func.attr.startswith(_PROCESS_CALLS)
    ):
        return f"os.{func.attr}"
    return None


def _argument(node: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for item in node.keywords:
        if item.arg == keyword:
            return item.value
    if 0 <= position < len(node.args) and not any(
        isinstance(a, ast.Starred) for a in node.args[: position + 1]
    ):
        return node.args[position]
    return None


def _literal_prefix(node: ast.expr | None) -> tuple[str, bool] | None:
    """The literal text of a string, or the literal start of an f-string (and False)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for part in node.values:
            if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                return "".join(parts), False
            parts.append(part.value)
        return "".join(parts), True
    return None


def _target(function: str, node: ast.Call) -> str | None:
    position, keyword = TARGET_ARGUMENT[function]
    literal = _literal_prefix(_argument(node, position, keyword))
    if literal is None:
        return None
    text, complete = literal
    if function != "http_fetch":
        return text if complete and text else None
    return _url_host(text, complete)


def _url_host(url: str, complete: bool) -> str | None:
    """`host:port` of an absolute http(s) URL whose host part is literal."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    if not complete and not any(c in rest for c in "/?#"):
        return None  # f"https://{host}" or f"https://api.example.com{path}": host unknown
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return f"{host}:{port or (443 if scheme.lower() == 'https' else 80)}"


def _opened(node: ast.Call) -> tuple[str, bool] | None:
    """(literal path, opened for writing) of `open("...")`, `io.open("...")` and
    `Path("...").open/read_text/read_bytes/write_text/write_bytes(...)`."""
    func = node.func
    if _is_name(func, "open") or _is_attr(func, "io", "open"):
        return _path_and_mode(node.args[:1], node, 1)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
        maker = func.value.func
        if _is_name(maker, "Path") or _is_attr(maker, "pathlib", "Path"):
            if func.attr == "open":
                return _path_and_mode(func.value.args[:1], node, 0)
            if func.attr in _PATH_READS | _PATH_WRITES:
                opened = _path_and_mode(func.value.args[:1], None, 0)
                return (opened[0], func.attr in _PATH_WRITES) if opened else None
    return None


def _path_and_mode(
    path_args: list[ast.expr], call: ast.Call | None, mode_position: int
) -> tuple[str, bool] | None:
    if not path_args:
        return None
    path = path_args[0]
    if not (isinstance(path, ast.Constant) and isinstance(path.value, str) and path.value):
        return None
    mode = _argument(call, mode_position, "mode") if call is not None else None
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return path.value, bool(_WRITE_MODES & set(mode.value))
    return path.value, mode is not None  # a mode we cannot read: assume it may write


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_attr(node: ast.expr, owner: str, name: str) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == name
        and isinstance(node.value, ast.Name)
        and node.value.id == owner
    )
