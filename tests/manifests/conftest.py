"""Fixtures for the manifest tests: module trees on disk."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.manifests.samples import MINIMAL

WriteModule = Callable[..., Path]


@pytest.fixture
def write_module(tmp_path: Path) -> WriteModule:
    """Write a module tree: `write_module(files, manifest=MINIMAL, name="module")`.

    `files` maps relative paths to `bytes` or `str` content; `module.wasm` is added unless
    given. `manifest=None` writes no module.json. Returns the module's root.
    """

    def write(
        files: Mapping[str, bytes | str] | None = None,
        *,
        manifest: Mapping[str, Any] | None = MINIMAL,
        name: str = "module",
    ) -> Path:
        root = tmp_path / name
        root.mkdir()
        contents: dict[str, bytes | str] = {"module.wasm": b"\0asm\1\0\0\0"}
        contents.update(files or {})
        for rel, content in contents.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode() if isinstance(content, str) else content
            path.write_bytes(data)
        if manifest is not None:
            (root / "module.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return root

    return write
