"""The declared-dependency model and the readers of the declaration files that are not
pip requirement files (`pyproject.toml`, `pylock.toml`, `setup.cfg`, ...).

See `sandbench.scanners._support.dependencies` for what is read and why; this module holds the
`Dependency` / `Unreadable` records, the marker targets and one `Reader` that collects
them, never dropping a declaration it cannot read.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .files import read_capped

__all__ = [
    "TARGETS",
    "Declared",
    "Dependency",
    "Reader",
    "Unreadable",
    "applies",
    "exact_version",
    "first_line",
    "line_of",
    "read_pylock",
    "read_pyproject",
    "read_setup_cfg",
    "read_text",
    "unread_format",
]

MAX_FILE_BYTES = 4 * 1024 * 1024


def _linux(python: str, machine: str) -> dict[str, str]:
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": "linux",
        "extra": "",
    }


_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
TARGETS: tuple[dict[str, str], ...] = (
    *(_linux(p, m) for p in _PYTHONS for m in ("x86_64", "aarch64")),
    {**_linux("3.12", "wasm32"), "sys_platform": "wasi", "platform_system": "WASI"},
)


@dataclass(frozen=True)
class Dependency:
    """A declared requirement. `version` is set when it is pinned to exactly one version;
    `direct` when it names a URL, a path or a VCS checkout instead of a version."""

    name: str
    version: str | None
    spec: str
    path: str
    line: int | None
    direct: bool = False
    constraint: bool = False
    hashes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unreadable:
    """A declaration that could not be read: the dependency scan is not complete."""

    path: str
    line: int | None
    text: str
    reason: str

    @property
    def where(self) -> str:
        """`path:line`, or `path`."""
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass
class Declared:
    """Every declared dependency, what could not be read, and what no target installs."""

    deps: list[Dependency] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    not_for_targets: int = 0


def applies(marker: Marker | None) -> bool:
    """True when `marker` holds in at least one of `TARGETS` (or cannot be evaluated)."""
    if marker is None:
        return True
    for env in TARGETS:
        try:
            if marker.evaluate(env):
                return True
        except (UndefinedComparison, UndefinedEnvironmentName, InvalidVersion):
            return True  # we cannot tell: audit it rather than drop it
    return False


def _exact(specifier: SpecifierSet) -> list[str]:
    return [
        s.version
        for s in specifier
        if s.operator == "===" or (s.operator == "==" and "*" not in s.version)
    ]


def exact_version(specifier: SpecifierSet) -> str | None:
    """The one version `specifier` admits (`==1.2`, `===1.2`, `==1.2,>=1`), else None."""
    return next((v for v in _exact(specifier) if specifier.contains(v, prereleases=True)), None)


class Reader:
    """Collects what one module root declares into `out`; `seen` holds the requirement
    files already read (each is read once, however many files name it)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.out = Declared()
        self.seen: set[Path] = set()

    def rel(self, path: Path) -> str:
        """`path` relative to the module root, `/`-separated."""
        return path.relative_to(self.root).as_posix()

    def bad(self, rel: str, line: int | None, text: str, reason: str) -> None:
        """Record a declaration that cannot be read."""
        self.out.unreadable.append(Unreadable(rel, line, text.strip()[:200], reason))

    def add(self, req: Requirement, rel: str, line: int | None, **extra: Any) -> None:
        """Record a parsed requirement: left out when no target installs it, a direct
        reference for a URL, pinned for exactly one version, unreadable when no version
        can satisfy it."""
        if not applies(req.marker):
            self.out.not_for_targets += 1
            return
        name = canonicalize_name(req.name)
        spec = str(req)
        if req.url:
            self.out.deps.append(Dependency(name, None, spec, rel, line, direct=True, **extra))
            return
        version = exact_version(req.specifier)
        if version is not None and not _valid(version):
            self.bad(rel, line, spec, f"{version!r} is not a PEP 440 version: it cannot be audited")
            return
        if version is None and _exact(req.specifier):
            self.bad(rel, line, spec, "no version satisfies this specifier")
            return
        self.out.deps.append(Dependency(name, version, spec, rel, line, **extra))

    def pep508(self, text: object, rel: str, line: int | None) -> None:
        """Record a PEP 508 string, or why it is not one."""
        if not isinstance(text, str):
            self.bad(rel, line, repr(text), "not a requirement string")
            return
        try:
            self.add(Requirement(text), rel, line)
        except InvalidRequirement as exc:
            self.bad(rel, line, text, f"not a PEP 508 requirement: {first_line(exc)}")


def _valid(version: str) -> bool:
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


def first_line(exc: Exception) -> str:
    """The first line of an exception's message."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def line_of(text: str, needle: str) -> int | None:
    """The first line holding `needle` as a TOML string, else as a whole line, else
    anywhere (TOML and INI parsers give no positions)."""
    lines = text.splitlines()
    tests = (
        lambda line: f'"{needle}"' in line or f"'{needle}'" in line,
        lambda line: line.strip() == needle,
        lambda line: needle in line and not line.lstrip().startswith("#"),
    )
    for test in tests:
        for number, line in enumerate(lines, 1):
            if needle and test(line):
                return number
    return None


def read_text(reader: Reader, file: Path) -> str | None:
    """The file as UTF-8 text (at most 4 MiB), or None after recording why not."""
    try:
        return read_capped(file, MAX_FILE_BYTES).decode("utf-8")
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        reader.bad(reader.rel(file), None, "", f"cannot be read: {exc}")
        return None


# -- pyproject.toml, pylock.toml, setup.cfg -------------------------------------------------


def _toml(reader: Reader, file: Path) -> tuple[dict[str, Any], str] | None:
    text = read_text(reader, file)
    if text is None:
        return None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"\(at line (\d+)", str(exc))
        reader.bad(reader.rel(file), int(at[1]) if at else None, "", f"cannot parse: {exc}")
        return None
    except RecursionError:  # tomllib reads nested arrays and tables recursively
        reader.bad(reader.rel(file), None, "", "cannot parse: nested too deeply")
        return None


def read_pyproject(reader: Reader, file: Path) -> None:
    """`[project]` dependencies and optional dependencies; dynamic ones are unreadable."""
    loaded = _toml(reader, file)
    if loaded is None:
        return
    data, text = loaded
    rel = reader.rel(file)
    project = data.get("project")
    if not isinstance(project, dict):
        _poetry(reader, file, data, text)
        return  # a tool-only pyproject declares no [project] dependencies
    if "dependencies" in (project.get("dynamic") or ()):
        why = "computed by the build backend, so they cannot be read: list them statically"
        reader.bad(rel, line_of(text, "dynamic"), "dynamic dependencies", why)
    _poetry(reader, file, data, text)
    groups: list[tuple[str, object]] = [("dependencies", project.get("dependencies", []))]
    optional = project.get("optional-dependencies", {})
    if isinstance(optional, dict):
        groups += [(f"optional-dependencies.{k}", v) for k, v in optional.items()]
    else:
        reader.bad(rel, line_of(text, "optional-dependencies"), "", "not a table of extras")
    for where, items in groups:
        if not isinstance(items, list):
            reader.bad(rel, line_of(text, where.split(".")[-1]), where, "not a list")
            continue
        for entry in items:
            reader.pep508(entry, rel, line_of(text, str(entry)))


def _poetry(reader: Reader, file: Path, data: dict[str, Any], text: str) -> None:
    tool = data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    table = poetry.get("dependencies") if isinstance(poetry, dict) else None
    declared = [k for k in table or {} if k != "python"] if isinstance(table, dict) else []
    if declared and not (file.parent / "poetry.lock").exists():
        reader.bad(
            reader.rel(file), line_of(text, "[tool.poetry.dependencies]"),
            "[tool.poetry.dependencies]", "Poetry's table is not read: ship poetry.lock "
            "beside it, or declare [project] dependencies",
        )  # fmt: skip


def read_pylock(reader: Reader, file: Path) -> None:
    """`[[packages]]` of PEP 751, and `[[package]]` of uv.lock, poetry.lock and pdm.lock
    (the same name / version / marker entries under another key)."""
    loaded = _toml(reader, file)
    if loaded is None:
        return
    data, text = loaded
    rel = reader.rel(file)
    packages = data.get("packages", data.get("package", []))
    if not isinstance(packages, list):
        reader.bad(rel, line_of(text, "packages"), "packages", "not an array of tables")
        return
    for entry in packages:
        _lock_entry(reader, entry, rel, text)


def _the_project_itself(entry: dict[str, Any]) -> bool:
    """uv's `source = { editable = "." }` / `{ virtual = "." }`, PEP 751's
    `directory = { path = "." }`: the module's own code, which the code scanners read."""
    source, directory = entry.get("source"), entry.get("directory")
    if isinstance(source, dict) and "." in (source.get("editable"), source.get("virtual")):
        return True
    return isinstance(directory, dict) and directory.get("path") == "."


def _lock_entry(reader: Reader, entry: object, rel: str, text: str) -> None:
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or not isinstance(name, str):
        reader.bad(rel, None, repr(entry)[:80], "a package entry without a name")
        return
    if _the_project_itself(entry):
        return
    line = line_of(text, name)
    version = entry.get("version")
    spec = f"{name}=={version}" if isinstance(version, str) else name
    marker = entry.get("marker")
    if isinstance(marker, str):
        spec += f"; {marker}"
    try:
        req = Requirement(spec)
    except InvalidRequirement as exc:
        reader.bad(rel, line, spec, f"not a valid package entry: {first_line(exc)}")
        return
    if version is not None:
        reader.add(req, rel, line)
    elif applies(req.marker):  # a VCS, directory or archive source without a version
        dep = Dependency(canonicalize_name(name), None, spec, rel, line, direct=True)
        reader.out.deps.append(dep)


def read_setup_cfg(reader: Reader, file: Path) -> None:
    """`[options] install_requires` and `[options.extras_require]`, as setuptools splits them."""
    text = read_text(reader, file)
    if text is None:
        return
    rel = reader.rel(file)
    config = configparser.ConfigParser(interpolation=None)
    try:
        config.read_string(text)
    except configparser.Error as exc:
        reader.bad(rel, None, "", f"cannot parse: {first_line(exc)}")
        return
    values: list[str] = []
    if config.has_option("options", "install_requires"):
        values.append(config.get("options", "install_requires"))
    if config.has_section("options.extras_require"):
        values += [v for _, v in config.items("options.extras_require")]
    for value in values:
        if value.strip().startswith("file:"):
            reader.bad(rel, line_of(text, "file:"), value, "a file: directive is not read")
            continue
        for entry in _setuptools_list(value):
            reader.pep508(entry, rel, line_of(text, entry))


def _setuptools_list(value: str) -> Iterator[str]:
    """setuptools' `list-semi`: one item per line, or `;`-separated on one line."""
    items = value.splitlines() if "\n" in value else value.split(";")
    for item in items:
        item = item.strip()
        if item and not item.startswith("#"):
            yield item


def unread_format(reader: Reader, file: Path) -> None:
    """A dependency file whose format sandbench does not read (Pipfile, conda's
    environment.yml): its dependencies would be dropped, so it is unreadable."""
    reader.bad(
        reader.rel(file), None, file.name, "a format sandbench does not read: export the "
        "dependencies to requirements.txt or pylock.toml"
    )  # fmt: skip
