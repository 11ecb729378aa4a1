"""JUnit XML: each policy rule a test case, each check that could not run a skipped one
(an inconclusive rule too: `skipped` with the reason)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .model import HealthReport, Status

__all__ = ["render_junit"]


def render_junit(report: HealthReport) -> str:
    """The report as a JUnit XML document that any CI can display."""
    failures = sum(1 for r in report.rules if r.status is not Status.HEALTHY)
    inconclusive = sum(1 for r in report.rules if r.inconclusive)
    tests = len(report.rules) + len(report.skipped)
    counts = {
        "tests": str(tests),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(len(report.skipped) + inconclusive),
    }
    root = ET.Element("testsuites", {"name": "sandbench", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": f"{report.module_id} {report.version}",
            "timestamp": report.last_check.isoformat(),
            **counts,
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("status", report.status.value),
        ("digest", report.signature.digest),
        ("backend", report.tool.backend),
        ("sandbench", report.tool.version),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for rule in report.rules:
        case = ET.SubElement(
            suite, "testcase", classname="sandbench.policy", name=rule.rule, time="0"
        )
        if rule.inconclusive:
            ET.SubElement(case, "skipped", message=f"inconclusive: {rule.message}")
        elif rule.status is Status.HEALTHY:
            ET.SubElement(case, "system-out").text = rule.message
        else:
            failure = ET.SubElement(case, "failure", type=rule.status.value, message=rule.message)
            failure.text = rule.message
    for skipped in report.skipped:
        case = ET.SubElement(
            suite, "testcase", classname="sandbench.checks", name=skipped.check_id, time="0"
        )
        ET.SubElement(case, "skipped", message=skipped.reason)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
