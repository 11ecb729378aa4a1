"""CycloneDX 1.6 JSON: an SBOM of the module's parts, with its advisories as VEX.

The module is the metadata component (its tree digest as a property); it depends on its
entry (the `.wasm` file with its SHA-256, or the container image) and on every Python
package it declares, bundles or ships in its image (`pkg:pypi` purls; `sandbench:origin`
and `sandbench:path` say where each was found). Each advisory the dependency scan found
is a vulnerability whose `affects` refers to that package, in triage (sandbench does not
judge reachability). Deterministic: the serial number is derived from the module's
identity and digest, the timestamp is the report's check time.

A report without `parts` (a report from before they were gathered) gives an SBOM of the
module component alone.
"""

from __future__ import annotations

import uuid

from cyclonedx.model import HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisState
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from sandbench.scanners import ModuleParts, PartAdvisory, PartPackage

from .model import HealthReport

__all__ = ["render_cyclonedx"]

_NAMESPACE = uuid.UUID("8f5d3f0e-5b1c-4c51-9a55-2f3c7c0d6a11")  # sandbench SBOM serials


def _package_ref(p: PartPackage) -> str:
    return f"{p.origin}:{p.name}@{p.version or 'unpinned'}"


def _package(p: PartPackage) -> Component:
    properties = [Property(name="sandbench:origin", value=p.origin)]
    if p.path:
        properties.append(Property(name="sandbench:path", value=p.path))
    return Component(
        type=ComponentType.LIBRARY,
        name=p.name,
        version=p.version,
        bom_ref=_package_ref(p),
        purl=PackageURL(type="pypi", name=p.name, version=p.version),
        properties=properties,
    )


def _entry(parts: ModuleParts) -> Component:
    if parts.runtime == "container":
        return Component(type=ComponentType.CONTAINER, name=parts.entry, bom_ref="entry")
    hashes = (
        [HashType(alg=HashAlgorithm.SHA_256, content=parts.entry_sha256)]
        if parts.entry_sha256
        else []
    )
    return Component(type=ComponentType.FILE, name=parts.entry, bom_ref="entry", hashes=hashes)


def _vulnerability(a: PartAdvisory, refs: dict[tuple[str, str], list[str]]) -> Vulnerability:
    url = f"https://osv.dev/vulnerability/{a.id}"
    severity = VulnerabilitySeverity(a.severity) if a.severity != "info" else None
    return Vulnerability(
        bom_ref=f"vuln:{a.id}:{a.package}@{a.version}",
        id=a.id,
        source=VulnerabilitySource(name="OSV", url=XsUri(url)),
        ratings=[VulnerabilityRating(severity=severity or VulnerabilitySeverity.INFO)],
        recommendation=a.remediation,
        analysis=VulnerabilityAnalysis(state=ImpactAnalysisState.IN_TRIAGE),
        affects=[BomTarget(ref=ref) for ref in refs.get((a.package, a.version), [])],
        properties=[Property(name="sandbench:alias", value=alias) for alias in a.aliases],
    )


def render_cyclonedx(report: HealthReport) -> str:
    """The report's module as a CycloneDX 1.6 JSON SBOM."""
    module = Component(
        type=ComponentType.APPLICATION,
        name=report.module_id,
        version=report.version,
        bom_ref="module",
        properties=[
            Property(name="sandbench:digest", value=f"SHA256:{report.signature.digest}"),
            Property(name="sandbench:status", value=report.status.value),
        ],
    )
    serial = uuid.uuid5(
        _NAMESPACE, f"{report.module_id}\0{report.version}\0{report.signature.digest}"
    )
    bom = Bom(
        serial_number=serial,
        metadata=BomMetaData(component=module, timestamp=report.last_check),
    )
    parts = report.parts
    if parts is not None:
        entry = _entry(parts)
        unique = {_package_ref(p): p for p in reversed(parts.packages)}  # first one wins
        packages = [_package(p) for p in unique.values()][::-1]
        for component in (entry, *packages):
            bom.components.add(component)
        bom.register_dependency(module, [entry, *packages])
        refs: dict[tuple[str, str], list[str]] = {}
        for ref, p in unique.items():
            if p.version:
                refs.setdefault((p.name, p.version), []).append(ref)
        for advisory in parts.advisories:
            bom.vulnerabilities.add(_vulnerability(advisory, refs))
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"
