"""The HTML report really renders in headless Chromium (Debian's `chromium`)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from sandbench.reports import Format, assess, render
from sandbench.sandbox import Outcome, Usage, Violation, ViolationKind

from .conftest import answer, make_evidence

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed"),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.fixture
def page(tmp_path):
    bad = Outcome(violation=Violation(kind=ViolationKind.MEMORY, message="grew"), usage=Usage())
    html = render(
        assess(make_evidence(outcomes=(answer(wall_ms=3), answer(wall_ms=5), bad))), Format.HTML
    )
    path = tmp_path / "report.html"
    path.write_text(html)
    return path


def test_chromium_parses_the_report_into_the_expected_document(tmp_path, page):
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert "<title>sandbench: @t/m 1.2.3</title>" in dom
    assert ">critical</span>" in dom
    assert dom.count("<rect") >= 4  # three latency bars, the memory gauge
    assert "<h2>Violations</h2>" in dom


def test_chromium_draws_a_page_that_is_not_blank(tmp_path, page):
    shot = tmp_path / "shot.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=900,1200", page.as_uri())
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (900, 1200)
    assert len(set(pixels)) > 20  # text, tables and charts, not one flat colour
