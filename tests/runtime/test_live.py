"""Live modules (the pytest plugin's session) on real wasmtime, through the pipeline."""

from __future__ import annotations

import pytest

from sandbench.errors import ManifestError, SandboxError
from sandbench.pipeline import live_modules
from tests.conftest import EXAMPLES


def test_a_live_module_answers_and_closes_twice_harmlessly():
    with live_modules() as modules:
        module = modules.load(EXAMPLES / "hello")
        with module:
            assert module.not_loaded is None
            assert module.invoke().response.body == b"hello from sandbench\n"
            assert module.invoke(module.health_request).ok
        module.close()  # twice is harmless
    modules.close()


def test_a_module_that_does_not_load_says_why_and_cannot_be_invoked():
    with live_modules() as modules, modules.load(EXAMPLES / "hostile" / "unknown-import") as module:
        assert module.not_loaded is not None
        assert "unknown import" in module.not_loaded
        with pytest.raises(SandboxError, match="the module did not load: unknown import"):
            module.invoke()


def test_an_invalid_module_is_a_manifest_error(tmp_path):
    with live_modules() as modules, pytest.raises(ManifestError):
        modules.load(tmp_path)
