"""pytest plugin for module developers: test and benchmark your module in the sandbox.

Installed with sandbench (entry point `pytest11`). Point it at your module with
`--sandbench-module DIR`, the `sandbench_module` ini option, or a marker on a test:

    import pytest

    @pytest.mark.sandbench_module("examples/modules/vendas")
    def test_quote(sandbench_module):
        result = sandbench_module.invoke(method="POST", path="/quote", body=b"sku,2,1050\\n")
        assert result.ok and result.response.status == 200

    def test_speed(sandbench_module, benchmark):      # with pytest-benchmark
        benchmark(sandbench_module.invoke, sandbench_module.health_request)

The module loads in the WASM sandbox with its manifest's limits (clamped by the default
policy), exactly as `sandbench check` runs it; storage buckets are empty temp folders.
A module that does not load fails the test with the violation's message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbench.errors import SandbenchError
from sandbench.pipeline import live_modules
from sandbench.runtime import LiveModule, LiveModules

__all__ = ["SandboxedModule"]

# The fixture's module: `invoke` a `Request` (or its fields as keywords), `limits`,
# `health_request`, `package`.
SandboxedModule = LiveModule


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add `--sandbench-module` and the `sandbench_module` ini option."""
    group = parser.getgroup("sandbench")
    group.addoption(
        "--sandbench-module",
        dest="sandbench_module",
        default=None,
        help="the module folder the sandbench_module fixture loads",
    )
    parser.addini("sandbench_module", "the module folder the sandbench_module fixture loads")


def pytest_configure(config: pytest.Config) -> None:
    """Register the `sandbench_module(path)` marker."""
    config.addinivalue_line(
        "markers", "sandbench_module(path): the module the sandbench_module fixture loads"
    )


def _module_path(request: pytest.FixtureRequest) -> Path:
    marker = request.node.get_closest_marker("sandbench_module")
    if marker is not None and marker.args:
        return Path(str(marker.args[0]))
    value = request.config.getoption("sandbench_module") or request.config.getini(
        "sandbench_module"
    )
    if not value:
        pytest.fail(
            "sandbench_module: no module given; use --sandbench-module DIR, the "
            "sandbench_module ini option or @pytest.mark.sandbench_module(DIR)",
            pytrace=False,
        )
    return Path(str(value))


@pytest.fixture(scope="session")
def sandbench_backend() -> Iterator[LiveModules]:
    """The WASM backend (`LiveModules`), opened once for the session's `sandbench_module` fixtures."""
    with live_modules() as modules:
        yield modules


@pytest.fixture
def sandbench_module(
    request: pytest.FixtureRequest, sandbench_backend: LiveModules
) -> Iterator[SandboxedModule]:
    """The module under test, loaded in the sandbox with its manifest's limits."""
    path = _module_path(request)
    root = request.config.rootpath
    try:
        module = sandbench_backend.load(path if path.is_absolute() else root / path)
    except SandbenchError as exc:
        pytest.fail(f"sandbench_module: {exc}", pytrace=False)
    with module:
        if module.not_loaded is not None:
            why = f"{module.package.root}: the module did not load: {module.not_loaded}"
            pytest.fail(why, pytrace=False)
        yield module
