"""License compliance: SPDX expressions against the policy, bundled dependency metadata."""

from __future__ import annotations

import pytest

from sandbench.scanners import LicensePolicy, LicenseScanner
from sandbench.scanners.licenses import Verdict, judge

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
    ],
)
def test_spdx_semantics(expression, verdict):
    assert judge(expression, POLICY)[0] is verdict


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty"),
        ("MIT AND", "ends too early"),
        ("(MIT", "ends too early"),
        ("MIT)", "unexpected \\)"),
        ("OR MIT", "unexpected OR"),
        ("MIT WITH", "ends too early"),
        ("M!T", "unexpected '!T'"),
    ],
)
def test_invalid_expressions(expression, message):
    with pytest.raises(ValueError, match=message):
        judge(expression, POLICY)


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


def test_bundled_metadata_and_unknown_dependencies(make_package):
    site = "lib/site-packages"
    package = make_package(
        {
            f"{site}/good-1.0.dist-info/METADATA": "Metadata-Version: 2.4\nName: good\nLicense-Expression: MIT\n",
            f"{site}/bad-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: Bad_Pkg\nClassifier: License :: OSI Approved :: GNU Affero General Public License v3\n",
            f"{site}/odd-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: odd\nLicense: WTFPL\n",
            f"{site}/none-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: none\n",
            "requirements.txt": "good==1.0\nmystery==2.0\n",
        }
    )
    assert _found(package) == [
        ("license-denied", f"{site}/bad-1.0.dist-info/METADATA",
         "dependency bad-pkg: AGPL-3.0-only is denied by the policy"),
        ("license-not-allowed", f"{site}/odd-1.0.dist-info/METADATA",
         "dependency odd: WTFPL needs WTFPL, in neither allow nor deny list"),
        ("license-unknown", f"{site}/none-1.0.dist-info/METADATA",
         "dependency none: license unknown (no license in its metadata)"),
        ("license-unknown", "requirements.txt",
         "dependency mystery: license unknown (no bundled metadata)"),
    ]  # fmt: skip


def test_the_default_policy_allows_common_permissive_licenses(make_package):
    assert _found(make_package(license="Apache-2.0 OR MIT"), LicensePolicy()) == []
    assert (
        _found(make_package(license="AGPL-3.0-or-later"), LicensePolicy())[0][0] == "license-denied"
    )
