"""What a module is made of, gathered once for the report: its entry and digest, the Python
packages it declares, bundles and ships in its image, the advisories found for them, and
where its folder sits in a git work tree. Renderers read `ModuleParts`; none of them reads
files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import canonicalize_name

from sandbench.manifests import ModulePackage
from sandbench.scanners import ImagePackages, ScanResult
from sandbench.scanners._support.dependencies import declared_dependencies
from sandbench.scanners._support.files import module_files, read_capped

from .model import ModuleParts, PartAdvisory, PartPackage

__all__ = ["module_parts", "source_root"]

MAX_METADATA_BYTES = 1024 * 1024
_CHUNK = 1024 * 1024


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
