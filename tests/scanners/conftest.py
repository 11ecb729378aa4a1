"""Fixtures for the scanner tests: the fixture module, an imported advisory store, module trees."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbench.components.build import build
from sandbench.manifests import ModulePackage, load
from sandbench.scanners import import_export
from tests.components.builds import BUILD_CACHE

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "tests" / "assets"
PYAPP = ASSETS / "modules" / "pyapp"
OSV = ASSETS / "osv"
EXAMPLES = ROOT / "examples" / "modules"

HELLO_WAT = (EXAMPLES / "hello" / "module.wat").read_text()


@pytest.fixture(scope="session")
def advisory_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store imported from tests/assets/osv (PYSEC-2018-28, PYSEC-2019-132)."""
    store = tmp_path_factory.mktemp("advisories") / "advisories.sqlite"
    import_export(OSV, store)
    return store


@pytest.fixture
def pyapp(tmp_path: Path) -> ModulePackage:
    """A private copy of the fixture module, so that tests may change its files."""
    root = tmp_path / "pyapp"
    shutil.copytree(PYAPP, root)
    return load(root)


MakePackage = Callable[..., ModulePackage]


@pytest.fixture
def make_package(tmp_path: Path) -> MakePackage:
    """`make_package(files={...}, entry_text=WAT, abi=..., **security)` -> a loaded package."""
    counter = iter(range(1000))

    def make(
        files: Mapping[str, str | bytes] | None = None,
        *,
        entry: str = "module.wat",
        entry_data: str | bytes = HELLO_WAT,
        abi: str = "command",
        license: str | None = "MIT",
        **security: Any,
    ) -> ModulePackage:
        root = tmp_path / f"m{next(counter)}"
        root.mkdir()
        manifest: dict[str, Any] = {
            "name": "scan-test",
            "version": "1.0.0",
            "runtime": {"kind": "wasm", "entry": entry, "abi": abi},
            "security": security,
        }
        if license is not None:
            manifest["license"] = license
        (root / "module.json").write_text(json.dumps(manifest))
        for rel, data in {entry: entry_data, **(files or {})}.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                path.write_text(data)
        return load(root)

    return make


@dataclass(frozen=True)
class BuiltComponent:
    """A copy of examples/modules/pricing-py built with `sandbench build`, and its bytes."""

    root: Path
    data: bytes


@pytest.fixture(scope="session")
def built_pricing(tmp_path_factory: pytest.TempPathFactory) -> BuiltComponent:
    """pricing-py built once per session in a private copy (from the tests' build cache)."""
    base = tmp_path_factory.mktemp("component")
    root = base / "pricing-py"
    shutil.copytree(EXAMPLES / "pricing-py", root, ignore=shutil.ignore_patterns("module.wasm"))
    result = build(root, cache_dir=BUILD_CACHE)
    return BuiltComponent(root=root, data=result.component.read_bytes())
