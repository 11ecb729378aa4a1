"""License compliance: SPDX expressions against the policy, bundled dependency metadata."""

from __future__ import annotations

import pytest

from sandbench.scanners import LicensePolicy, LicenseScanner
from sandbench.scanners.licenses import Verdict, judge, spdx_from_text

POLICY = LicensePolicy(allow=("MIT", "Apache-2.0", "BSD-3-Clause"), deny=("AGPL-3.0-only",))


@pytest.mark.parametrize(
    ("expression", "verdict"),
    [
        ("MIT", Verdict.ALLOWED),
        ("AGPL-3.0-only", Verdict.DENIED),
        ("GPL-2.0-only", Verdict.UNLISTED),
        ("MIT OR AGPL-3.0-only", Verdict.ALLOWED),
        ("MIT AND AGPL-3.0-only", Verdict.DENIED),
        ("(MIT OR GPL-2.0-only) AND Apache-2.0", Verdict.ALLOWED),
        ("GPL-2.0-only OR AGPL-3.0-only", Verdict.UNLISTED),
        ("Apache-2.0 WITH LLVM-exception", Verdict.ALLOWED),
        ("MIT+", Verdict.ALLOWED),
        ("mit", Verdict.ALLOWED),  # SPDX ids are case-insensitive
        ("apache-2.0 WITH llvm-exception", Verdict.ALLOWED),
        ("AGPL-3.0", Verdict.DENIED),  # deprecated id, read as AGPL-3.0-only
        ("GPL-2.0+", Verdict.UNLISTED),
        ("LicenseRef-Acme", Verdict.UNLISTED),  # valid SPDX: the lists decide
        ("Apache 2.0", Verdict.UNKNOWN),  # not an SPDX id
        ("MIT AND NoSuchLicense", Verdict.UNKNOWN),
        ("MIT OR NoSuchLicense", Verdict.ALLOWED),
        ("NoSuchLicense OR AGPL-3.0-only", Verdict.UNKNOWN),
    ],
)
def test_spdx_semantics(expression, verdict):
    assert judge(expression, POLICY)[0] is verdict


@pytest.mark.parametrize(
    "expression", ["", "MIT AND", "(MIT", "MIT)", "OR MIT", "MIT WITH", "MIT WITH MIT", "x" * 2000]
)
def test_invalid_expressions(expression):
    # Changed by issue 15: license-expression's parser, so its own messages.
    with pytest.raises(ValueError, match=r"."):
        judge(expression, POLICY)


def test_the_policy_lists_are_read_as_spdx_too():
    policy = LicensePolicy(allow=("mit", "apache-2.0"), deny=("AGPL-3.0",))
    assert judge("MIT", policy).verdict is Verdict.ALLOWED
    assert judge("Apache-2.0", policy).verdict is Verdict.ALLOWED
    assert judge("AGPL-3.0-only", policy).verdict is Verdict.DENIED


@pytest.mark.parametrize(
    ("text", "spdx"),
    [
        ("Apache 2.0", "Apache-2.0"),
        ("Apache License, Version 2.0", "Apache-2.0"),
        ("Apache Software License", "Apache-2.0"),
        ("PSFL", "PSF-2.0"),
        ("Python Software Foundation License", "PSF-2.0"),
        ("MIT License", "MIT"),
        ("BSD 3-Clause", "BSD-3-Clause"),
        ("new BSD license", "BSD-3-Clause"),
        ("MPL 2.0", "MPL-2.0"),
        ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
        ("Public Domain", None),
        ("Copyright (c) 2020 ACME. Permission is hereby granted", None),
    ],
)
def test_free_text_names_map_to_spdx(text, spdx):
    assert spdx_from_text(text) == spdx


def _found(package, policy=POLICY):
    return sorted(
        (f.rule_id, str(f.path), f.message) for f in LicenseScanner(policy).scan(package).findings
    )


def test_module_license(make_package):
    assert _found(make_package(license="MIT")) == []
    assert _found(make_package(license="AGPL-3.0-only"))[0][:2] == ("license-denied", "module.json")
    assert _found(make_package(license="GPL-2.0-only"))[0][0] == "license-not-allowed"
    assert _found(make_package(license=None))[0][0] == "license-missing"
    assert _found(make_package(license="MIT AND"))[0][0] == "license-invalid"
    assert _found(make_package(license="mit")) == []
    [unknown] = _found(make_package(license="Apache 2.0"))
    assert unknown == (
        "license-unknown-id",
        "module.json",
        "the module: Apache 2.0 uses Apache 2.0, not an SPDX license id (did you mean Apache-2.0?)",
    )


def test_bundled_metadata_and_unknown_dependencies(make_package):
    site = "lib/site-packages"
    package = make_package(
        {
            f"{site}/good-1.0.dist-info/METADATA": "Metadata-Version: 2.4\nName: good\nLicense-Expression: MIT\n",
            f"{site}/bad-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: Bad_Pkg\nClassifier: License :: OSI Approved :: GNU Affero General Public License v3\n",
            f"{site}/odd-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: odd\nLicense: WTFPL\n",
            f"{site}/free-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: free\nLicense: Apache 2.0\n",
            f"{site}/psf-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: psf\nLicense: PSFL\n",
            f"{site}/cls-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: cls\nLicense: see LICENSE\nClassifier: License :: OSI Approved :: MIT License\n",
            f"{site}/expr-1.0.dist-info/METADATA": "Metadata-Version: 2.4\nName: expr\nLicense-Expression: AGPL-3.0-or-later\nClassifier: License :: OSI Approved :: MIT License\n",
            f"{site}/blurb-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: blurb\nLicense: Copyright ACME, all rights reserved\n",
            f"{site}/none-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: none\n",
            "requirements.txt": "good==1.0\nmystery==2.0\n",
        }
    )
    assert _found(package) == [
        ("license-denied", f"{site}/bad-1.0.dist-info/METADATA",
         "dependency bad-pkg: AGPL-3.0-only is denied by the policy"),
        ("license-not-allowed", f"{site}/expr-1.0.dist-info/METADATA",  # not the MIT classifier
         "dependency expr: AGPL-3.0-or-later needs AGPL-3.0-or-later, in neither allow nor deny list"),
        ("license-not-allowed", f"{site}/odd-1.0.dist-info/METADATA",
         "dependency odd: WTFPL needs WTFPL, in neither allow nor deny list"),
        ("license-not-allowed", f"{site}/psf-1.0.dist-info/METADATA",
         "dependency psf: PSF-2.0 needs PSF-2.0, in neither allow nor deny list"),
        ("license-unknown", f"{site}/none-1.0.dist-info/METADATA",
         "dependency none: license unknown (no license in its metadata)"),
        ("license-unknown", "requirements.txt",
         "dependency mystery: license unknown (no bundled metadata)"),
        ("license-unknown-id", f"{site}/blurb-1.0.dist-info/METADATA",
         "dependency blurb: its free-text License 'Copyright ACME, all rights reserved' names "
         "no SPDX license"),
    ]  # fmt: skip


def test_the_default_policy_allows_common_permissive_licenses(make_package):
    assert _found(make_package(license="Apache-2.0 OR MIT"), LicensePolicy()) == []
    assert (
        _found(make_package(license="AGPL-3.0-or-later"), LicensePolicy())[0][0] == "license-denied"
    )
