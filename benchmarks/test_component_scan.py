"""The capability scan of a Python component against reading its entry file, same run.

A componentize-py component is about 18 MB, nearly all of it core modules (the Python
runtime); its imports and exports take a few hundred bytes at the top level. The baseline
(`..._raw`) reads the whole entry the way the core-module path does (`read_capped`); the
scan reads only the section headers and the import and export sections, and parses the
module's Python source. The module here has the shape of pricing-py built: the same
imports, an 18 MB core module section, and pricing-py's app.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sandbench.manifests import ModulePackage, load
from sandbench.scanners import CapabilityScanner
from sandbench.scanners._support.files import read_capped
from sandbench.scanners._support.wasm_binary import MAX_BYTES
from tests.scanners.test_component_binary import name, section, uleb

from .conftest import EXAMPLES

ROUNDS = 20
CORE_BYTES = 18 * 1024 * 1024
WASI = [
    f"wasi:{name}@0.2.9"
    for name in [
        "io/poll",
        "clocks/monotonic-clock",
        "clocks/wall-clock",
        "random/random",
        "io/error",
        "io/streams",
        "cli/stdout",
        "cli/stderr",
        "cli/stdin",
        "cli/environment",
        "cli/exit",
        "cli/terminal-input",
        "cli/terminal-output",
        "cli/terminal-stdin",
        "cli/terminal-stdout",
        "cli/terminal-stderr",
        "filesystem/types",
        "filesystem/preopens",
        "sockets/network",
        "sockets/instance-network",
        "sockets/udp",
        "sockets/udp-create-socket",
        "sockets/tcp",
        "sockets/tcp-create-socket",
        "sockets/ip-name-lookup",
    ]
]
PLATFORM = ["sandbench:platform/types@1.0.0", "sandbench:platform/host@1.0.0"]


def _component() -> bytes:
    imports = [name(n) + b"\x05\x00" for n in WASI + PLATFORM]
    return (
        b"\x00asm\x0d\x00\x01\x00"
        + section(7, b"\x01\x42\x00")
        + section(10, uleb(len(imports)) + b"".join(imports))
        + section(1, bytes(CORE_BYTES))
        + section(11, b"\x01" + name("handle") + b"\x01\x00\x00")
    )


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> ModulePackage:
    root = tmp_path_factory.mktemp("component-scan") / "pricing"
    root.mkdir()
    shutil.copyfile(EXAMPLES / "pricing-py" / "app.py", root / "app.py")
    manifest = json.loads((EXAMPLES / "pricing-py" / "module.json").read_text())
    (root / "module.json").write_text(json.dumps(manifest))
    (root / "module.wasm").write_bytes(_component())
    return load(root)


def test_component_scan_read_entry_raw(benchmark, package: ModulePackage):
    benchmark.group = "scan-component"
    entry: Path = package.entry_path
    data = benchmark.pedantic(read_capped, args=(entry, MAX_BYTES), rounds=ROUNDS, warmup_rounds=1)
    assert len(data) > CORE_BYTES


def test_component_scan_capabilities(benchmark, package: ModulePackage):
    benchmark.group = "scan-component"
    scanner = CapabilityScanner()
    result = benchmark.pedantic(scanner.scan, args=(package,), rounds=ROUNDS, warmup_rounds=1)
    assert result.findings == ()
    assert result.summary.startswith("27 imports, 1 exports; 1 Python files: 2 host calls")
