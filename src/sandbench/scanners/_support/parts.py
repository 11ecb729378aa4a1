"""What a module is made of, gathered once for the health report: its entry and digest, the
Python packages it declares, bundles and ships in its image, the advisories the dependency
scan found for them, and where its folder sits in a git work tree.

Reading a module's files is the scanners' work (they never run its code), and pip-audit's
finding messages are this package's own wording: the parts are gathered here and handed
to `sandbench.reports` as data (`ModuleParts`), whose renderers (CycloneDX, SARIF) read
no files. The models serialize with camelCase keys, as the health report that holds them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import canonicalize_name
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sandbench.manifests import ModulePackage
from sandbench.scanners._support.dependencies import declared_dependencies
from sandbench.scanners._support.files import module_files, read_capped
from sandbench.scanners.interface import ScanResult
from sandbench.scanners.pip_audit import ImagePackages

__all__ = ["ModuleParts", "PartAdvisory", "PartPackage", "module_parts", "source_root"]

MAX_METADATA_BYTES = 1024 * 1024
_CHUNK = 1024 * 1024


_CAMEL = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class PartPackage(BaseModel):
    """A Python distribution in the module: declared, bundled in its folder, or in its image."""

    model_config = _CAMEL

    name: str
    version: str | None = None
    origin: str = Field(
        description="declared (a requirement file), bundled (a .dist-info folder in the "
        "module) or image (installed in the container image)"
    )
    path: str | None = Field(default=None, description="the declaring file or .dist-info folder")


class PartAdvisory(BaseModel):
    """A known vulnerability of one of the module's packages, as the dependency scan found it."""

    model_config = _CAMEL

    id: str
    package: str
    version: str
    severity: str
    aliases: list[str] = Field(default_factory=list)
    remediation: str | None = None


class ModuleParts(BaseModel):
    """What the module is made of (for `--format cyclonedx`) and where it lives (for SARIF)."""

    model_config = _CAMEL

    runtime: str = Field(description="wasm or container")
    entry: str = Field(description="the entry file, the build folder or the image, as declared")
    entry_sha256: str | None = Field(
        default=None, description="of the entry file; None for a folder or an image"
    )
    packages: list[PartPackage] = Field(default_factory=list)
    advisories: list[PartAdvisory] = Field(default_factory=list)
    source_root: str | None = Field(
        default=None,
        description="the module's folder relative to the root of the git work tree holding it "
        "('' at its root); None when it is in none (an extracted archive)",
    )


def module_parts(
    package: ModulePackage,
    image: ImagePackages | None = None,
    scans: Iterable[ScanResult] = (),
) -> ModuleParts:
    """The parts of `package`; `image` lists a container's installed distributions and
    `scans` holds the dependency scan whose advisories become the SBOM's vulnerabilities.

    Never raises for a module's content: an unreadable requirement file or METADATA leaves
    that package out (the dependency scan reports the file).
    """
    runtime = package.manifest.runtime
    packages = _declared(package.root) + _bundled(package.root)
    packages += [
        PartPackage(name=canonicalize_name(name), version=version, origin="image", path=path)
        for name, version, path in (image.packages if image is not None else ())
    ]
    entry_file = package.entry_path
    if runtime.kind == "container":
        entry = getattr(runtime, "image", None) or getattr(runtime, "build", None) or "."
    else:
        entry = entry_file.relative_to(package.root).as_posix()
    return ModuleParts(
        runtime=runtime.kind,
        entry=entry,
        entry_sha256=_sha256(entry_file) if runtime.kind != "container" else None,
        packages=packages,
        advisories=_advisories(scans, packages),
        source_root=source_root(package.root),
    )


def _declared(root: Path) -> list[PartPackage]:
    # Constraints (`-c`) narrow versions but install nothing: they are not parts.
    deps = [dep for dep in declared_dependencies(root).deps if not dep.constraint]
    seen: dict[tuple[str, str | None], PartPackage] = {}
    for dep in deps:
        name = canonicalize_name(dep.name)
        seen.setdefault(
            (name, dep.version),
            PartPackage(name=name, version=dep.version, origin="declared", path=dep.path),
        )
    return list(seen.values())


def _bundled(root: Path) -> list[PartPackage]:
    found = []
    for path in module_files(root):
        if path.name != "METADATA" or not path.parent.name.endswith(".dist-info"):
            continue
        try:
            text = read_capped(path, MAX_METADATA_BYTES).decode("utf-8", errors="replace")
        except (OSError, ValueError):
            continue
        headers = HeaderParser().parsestr(text)
        if headers.get("Name"):
            found.append(
                PartPackage(
                    name=canonicalize_name(headers["Name"]),
                    version=headers.get("Version"),
                    origin="bundled",
                    path=path.parent.relative_to(root).as_posix(),
                )
            )
    return found


def _advisories(scans: Iterable[ScanResult], packages: list[PartPackage]) -> list[PartAdvisory]:
    """pip-audit's findings, each tied to the package its message names."""
    known = {f"{p.name} {p.version}": p for p in packages if p.version}
    found: dict[tuple[str, str, str], PartAdvisory] = {}
    for result in scans:
        if result.scanner != "pip-audit":
            continue
        for finding in result.findings:
            match = next((p for k, p in known.items() if finding.message.startswith(k + " ")), None)
            if match is None or match.version is None:
                continue
            text = finding.message
            aliases = text.rpartition(" (")[2][:-1].split(", ") if text.endswith(")") else []
            key = (finding.rule_id, match.name, match.version)
            found.setdefault(
                key,
                PartAdvisory(
                    id=finding.rule_id,
                    package=match.name,
                    version=match.version,
                    severity=finding.severity.value,
                    aliases=[a for a in aliases if a],
                    remediation=finding.remediation,
                ),
            )
    return list(found.values())


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def source_root(root: Path) -> str | None:
    """`root` relative to the top of the git work tree above it, or None."""
    resolved = root.resolve()
    for top in (resolved, *resolved.parents):
        if (top / ".git").exists():
            rel = resolved.relative_to(top).as_posix()
            return "" if rel == "." else rel
    return None
