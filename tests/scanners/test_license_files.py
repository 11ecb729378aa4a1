"""`license-text-mismatch`: a license file whose text is not the declared license.

Before, only the declared expression was judged: a module whose LICENSE is the GNU AGPL
(denied by the default policy) passed by declaring MIT."""

from __future__ import annotations

import sysconfig
from email.parser import HeaderParser
from pathlib import Path

from sandbench.scanners import LicenseScanner, Severity
from sandbench.scanners._support.license_files import family, license_files, text_license
from sandbench.scanners.licenses import _metadata_license, declared_families, judge
from sandbench.scanners.policy import LicensePolicy

AGPL = "GNU AFFERO GENERAL PUBLIC LICENSE\n   Version 3, 19 November 2007\n\nCopyright ...\n"
GPL3 = "                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n"
GPL2 = (
    "GNU GENERAL PUBLIC LICENSE\nVersion 2, June 1991\n\n" + "Preamble text. " * 40
    + "(Some other software is covered by the GNU Library General Public License instead.)"
)  # fmt: skip
MIT = "MIT License\n\nCopyright (c) 2026 A\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\n"
APACHE = "\n                                 Apache License\n                           Version 2.0, January 2004\n"


def _mismatches(package):
    result = LicenseScanner().scan(package)
    return [
        (f.severity, str(f.path), f.message)
        for f in result.findings
        if f.rule_id == "license-text-mismatch"
    ]


def test_a_denied_license_text_under_a_permissive_declaration_is_high(make_package):
    found = _mismatches(make_package({"LICENSE": AGPL}, license="MIT"))
    assert len(found) == 1
    severity, path, message = found[0]
    assert (severity, path) == (Severity.HIGH, "LICENSE")
    assert "AGPL-3.0" in message
    assert "declared license MIT" in message


def test_another_license_text_is_medium(make_package):
    found = _mismatches(make_package({"COPYING": GPL3}, license="MIT"))
    assert [(s, p) for s, p, _ in found] == [(Severity.MEDIUM, "COPYING")]


def test_texts_that_agree_with_the_declaration_are_quiet(make_package):
    assert _mismatches(make_package({"LICENSE": GPL3}, license="GPL-3.0-or-later")) == []
    both = {"LICENSE-MIT": MIT, "LICENSE-APACHE": APACHE, "docs/LICENSE": AGPL}
    assert _mismatches(make_package(both, license="MIT OR Apache-2.0")) == []


def test_a_bundled_distribution_s_license_file_is_checked_against_its_metadata(make_package):
    info = "vendor/evil-1.0.dist-info"
    files = {
        f"{info}/METADATA": "Metadata-Version: 2.4\nName: evil\nVersion: 1.0\nLicense-Expression: MIT\n",
        f"{info}/licenses/LICENSE": AGPL,
    }
    found = _mismatches(make_package(files, license="MIT"))
    assert len(found) == 1
    severity, path, message = found[0]
    assert (severity, path) == (Severity.HIGH, f"{info}/licenses/LICENSE")
    assert message.startswith("dependency evil: ")


def test_a_title_decides_before_what_the_preamble_mentions():
    assert text_license(GPL2) == "GPL-2.0"
    assert text_license(AGPL) == "AGPL-3.0"
    assert text_license("Copyright ACME, all rights reserved") is None


def test_the_license_files_of_installed_distributions_agree_with_their_metadata():
    # Real texts: every recognised license file in this environment's .dist-info folders
    # is a license its METADATA declares (precision on code nobody here wrote).
    site = Path(sysconfig.get_paths()["purelib"])
    files = [p for d in site.glob("*.dist-info") for p in d.rglob("*") if p.is_file()]
    judged = wrong = 0
    for folder, found in license_files(site, files).items():
        meta = HeaderParser().parsestr((site / folder / "METADATA").read_text(errors="replace"))
        declared, _origin = _metadata_license(meta)
        families = declared_families(declared or "")
        if families is None:
            continue
        for _path, text_family in found:
            judged += 1
            wrong += family(text_family) not in families
    assert judged >= 50
    assert wrong == 0


def test_the_denied_family_is_judged_by_the_policy():
    assert judge("AGPL-3.0", LicensePolicy()).verdict.name == "DENIED"
