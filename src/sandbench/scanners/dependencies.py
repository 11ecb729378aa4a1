"""The dependencies a module declares, read with the grammars of the tools that install them.

- `requirements*.txt`, and every file they name with `-r` / `-c`: pip's own grammar
  (`pip-requirements-parser`, which carries pip's parser: `\\` continuations, comments after
  a tab, per-requirement `--hash`, environment markers, `===`, `name @ url`, `-e`). A nested
  file is followed only inside the module, never through a link, never twice in one chain.
- `pyproject.toml`: `[project] dependencies` and `[project.optional-dependencies]` (an extra
  is installed by whoever asks for it, so its pins are audited too), as PEP 508 strings;
  `dynamic = ["dependencies"]` cannot be read without running the build backend.
- `pylock.toml` / `pylock.*.toml` (PEP 751): every `[[packages]]` entry.
- `setup.cfg`: `[options] install_requires` and `[options.extras_require]`, split the way
  setuptools splits them (one per line, or on `;` in a one-line value).

Nothing is dropped silently: a line or entry that cannot be read is returned as
`Unreadable(path, line, text, reason)`, and the caller fails closed on it.

Markers are evaluated for every environment a module runs in here (`TARGETS`: CPython 3.9
to 3.14 on Linux x86_64 / aarch64, the containers; CPython on WASI, the components). A
requirement is kept when its marker holds in at least one of them; only one that no target
installs (`sys_platform == "win32"`) is left out, and counted.
"""

from __future__ import annotations

import configparser
import os
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
from pip_requirements_parser import (
    CommentRequirementLine,
    InstallRequirement,
    InvalidRequirementLine,
    OptionLine,
    RequirementsFile,
)

from .files import module_files, read_capped

__all__ = ["TARGETS", "Declared", "Dependency", "Unreadable", "declared_dependencies"]

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NESTED = 64


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


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.out = Declared()
        self.seen: set[Path] = set()

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def bad(self, rel: str, line: int | None, text: str, reason: str) -> None:
        self.out.unreadable.append(Unreadable(rel, line, text.strip()[:200], reason))

    def add(self, req: Requirement, rel: str, line: int | None, **extra: Any) -> None:
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
        if not isinstance(text, str):
            self.bad(rel, line, repr(text), "not a requirement string")
            return
        try:
            self.add(Requirement(text), rel, line)
        except InvalidRequirement as exc:
            self.bad(rel, line, text, f"not a PEP 508 requirement: {_first_line(exc)}")


def _valid(version: str) -> bool:
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _line_of(text: str, needle: str) -> int | None:
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


def _read_text(reader: _Reader, file: Path) -> str | None:
    try:
        return read_capped(file, MAX_FILE_BYTES).decode("utf-8")
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        reader.bad(reader.rel(file), None, "", f"cannot be read: {exc}")
        return None


# -- requirements files ------------------------------------------------------------------


def _requirements(
    reader: _Reader, file: Path, chain: tuple[Path, ...], *, constraint: bool = False
) -> None:
    rel = reader.rel(file)
    if file in reader.seen:
        return
    reader.seen.add(file)
    if _read_text(reader, file) is None:
        return
    try:
        parsed = list(RequirementsFile.parse(str(file), include_nested=False))
    except Exception as exc:  # pip's parser raises several kinds; any is "unreadable"
        reader.bad(rel, None, "", f"pip cannot parse it: {_first_line(exc)}")
        return
    for item in parsed:
        _requirement_item(reader, item, file, (*chain, file), constraint=constraint)


def _requirement_item(
    reader: _Reader, item: object, file: Path, chain: tuple[Path, ...], *, constraint: bool
) -> None:
    rel = reader.rel(file)
    if isinstance(item, InvalidRequirementLine):
        reason = item.error_message.splitlines()[0]
        if "${" in item.line:  # pip expands ${VAR} from the installing shell: unknown here
            reason = "an environment variable decides it: its value at install time is unknown"
        reader.bad(rel, item.line_number, item.line, reason)
    elif isinstance(item, OptionLine):
        for key, nested_constraint in (("requirements", constraint), ("constraints", True)):
            for target in item.options.get(key) or ():
                _nested(reader, str(target), item, file, chain, nested_constraint)
    elif isinstance(item, InstallRequirement):
        _install_requirement(reader, item, rel, constraint=constraint)
    elif not isinstance(item, CommentRequirementLine):  # pragma: no cover - parser contract
        reader.bad(rel, None, repr(item), "an unknown kind of line")


def _install_requirement(
    reader: _Reader, item: InstallRequirement, rel: str, *, constraint: bool
) -> None:
    line = item.line_number
    if item.req is None:  # a bare path or URL: no name, no version
        reader.out.deps.append(
            Dependency("(unnamed)", None, item.line, rel, line, direct=True, constraint=constraint)
        )
        return
    req = Requirement(str(item.req))
    if item.marker is not None:
        req.marker = Marker(str(item.marker))
    if item.link is not None and not req.url:
        req.url = str(item.link)  # `-e git+...#egg=name`: a checkout, not a version
    hashes = tuple(item.hash_options)
    reader.add(req, rel, line, constraint=constraint, hashes=hashes)


def _nested(
    reader: _Reader,
    target: str,
    item: OptionLine,
    file: Path,
    chain: tuple[Path, ...],
    constraint: bool,
) -> None:
    rel, line = reader.rel(file), item.line_number
    if "://" in target or target.startswith("file:"):
        reader.bad(rel, line, item.line, f"{target} is not a file of the module")
        return
    candidate = file.parent / target
    resolved = Path(os.path.realpath(candidate))
    if not resolved.is_relative_to(reader.root):
        reader.bad(rel, line, item.line, f"{target} leads out of the module folder")
    elif candidate.is_symlink() or not resolved.is_file():
        reader.bad(rel, line, item.line, f"{target} is not a regular file of the module")
    elif resolved in chain:
        reader.bad(rel, line, item.line, f"{target} includes itself (a loop of -r/-c)")
    elif len(chain) >= MAX_NESTED:
        reader.bad(rel, line, item.line, f"more than {MAX_NESTED} nested files")
    else:
        _requirements(reader, resolved, chain, constraint=constraint)


# -- pyproject.toml, pylock.toml, setup.cfg -------------------------------------------------


def _toml(reader: _Reader, file: Path) -> tuple[dict[str, Any], str] | None:
    text = _read_text(reader, file)
    if text is None:
        return None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        reader.bad(reader.rel(file), None, "", f"cannot parse: {exc}")
        return None


def _pyproject(reader: _Reader, file: Path) -> None:
    loaded = _toml(reader, file)
    if loaded is None:
        return
    data, text = loaded
    rel = reader.rel(file)
    project = data.get("project")
    if not isinstance(project, dict):
        return  # a tool-only pyproject declares no dependencies
    if "dependencies" in (project.get("dynamic") or ()):
        why = "computed by the build backend, so they cannot be read: list them statically"
        reader.bad(rel, _line_of(text, "dynamic"), "dynamic dependencies", why)
    groups: list[tuple[str, object]] = [("dependencies", project.get("dependencies", []))]
    optional = project.get("optional-dependencies", {})
    if isinstance(optional, dict):
        groups += [(f"optional-dependencies.{k}", v) for k, v in optional.items()]
    else:
        reader.bad(rel, _line_of(text, "optional-dependencies"), "", "not a table of extras")
    for where, items in groups:
        if not isinstance(items, list):
            reader.bad(rel, _line_of(text, where.split(".")[-1]), where, "not a list")
            continue
        for entry in items:
            reader.pep508(entry, rel, _line_of(text, str(entry)))


def _pylock(reader: _Reader, file: Path) -> None:
    loaded = _toml(reader, file)
    if loaded is None:
        return
    data, text = loaded
    rel = reader.rel(file)
    packages = data.get("packages", [])
    if not isinstance(packages, list):
        reader.bad(rel, _line_of(text, "packages"), "packages", "not an array of tables")
        return
    for entry in packages:
        _lock_entry(reader, entry, rel, text)


def _lock_entry(reader: _Reader, entry: object, rel: str, text: str) -> None:
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or not isinstance(name, str):
        reader.bad(rel, None, repr(entry)[:80], "a package entry without a name")
        return
    line = _line_of(text, name)
    version = entry.get("version")
    spec = f"{name}=={version}" if isinstance(version, str) else name
    marker = entry.get("marker")
    if isinstance(marker, str):
        spec += f"; {marker}"
    try:
        req = Requirement(spec)
    except InvalidRequirement as exc:
        reader.bad(rel, line, spec, f"not a valid package entry: {_first_line(exc)}")
        return
    if version is not None:
        reader.add(req, rel, line)
    elif applies(req.marker):  # a VCS, directory or archive source without a version
        dep = Dependency(canonicalize_name(name), None, spec, rel, line, direct=True)
        reader.out.deps.append(dep)


def _setup_cfg(reader: _Reader, file: Path) -> None:
    text = _read_text(reader, file)
    if text is None:
        return
    rel = reader.rel(file)
    config = configparser.ConfigParser(interpolation=None)
    try:
        config.read_string(text)
    except configparser.Error as exc:
        reader.bad(rel, None, "", f"cannot parse: {_first_line(exc)}")
        return
    values: list[str] = []
    if config.has_option("options", "install_requires"):
        values.append(config.get("options", "install_requires"))
    if config.has_section("options.extras_require"):
        values += [v for _, v in config.items("options.extras_require")]
    for value in values:
        if value.strip().startswith("file:"):
            reader.bad(rel, _line_of(text, "file:"), value, "a file: directive is not read")
            continue
        for entry in _setuptools_list(value):
            reader.pep508(entry, rel, _line_of(text, entry))


def _setuptools_list(value: str) -> Iterator[str]:
    """setuptools' `list-semi`: one item per line, or `;`-separated on one line."""
    items = value.splitlines() if "\n" in value else value.split(";")
    for item in items:
        item = item.strip()
        if item and not item.startswith("#"):
            yield item


def declared_dependencies(root: Path) -> Declared:
    """Every dependency the module at `root` declares, and every declaration that could
    not be read. Never raises for the module's content."""
    reader = _Reader(root)
    for file in module_files(reader.root):
        name = file.name
        if name.startswith("requirements") and file.suffix == ".txt":
            _requirements(reader, file, ())
        elif name == "pyproject.toml":
            _pyproject(reader, file)
        elif name == "pylock.toml" or (name.startswith("pylock.") and file.suffix == ".toml"):
            _pylock(reader, file)
        elif name == "setup.cfg":
            _setup_cfg(reader, file)
    return reader.out
