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
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from sandbench.errors import SandbenchError
from sandbench.manifests import ModulePackage, load
from sandbench.reports import Policy
from sandbench.runtime import Workspace, health_request, limits_for
from sandbench.sandbox import (
    BackendKind,
    Closing,
    Instance,
    Outcome,
    Request,
    SandboxBackend,
    SandboxLimits,
    open_backend,
)

__all__ = ["SandboxedModule"]


class SandboxedModule(Closing):
    """A module loaded for a test: `invoke` a `Request`, or its fields as keywords."""

    def __init__(self, package: ModulePackage, backend: SandboxBackend) -> None:
        self.package = package
        policy = Policy()
        self.limits: SandboxLimits = limits_for(
            package.manifest, policy.defaults.sandbox(), policy.ceilings.sandbox()
        ).limits
        self.health_request = health_request(package.manifest)
        self._stack = ExitStack()
        workspace = self._stack.enter_context(Workspace(package.manifest))
        try:
            result = backend.load(package, self.limits, workspace.grants)
        except BaseException:
            self._stack.close()
            raise
        if result.instance is None:
            self._stack.close()
            reason = result.violation.message if result.violation else "no instance"
            pytest.fail(f"{package.root}: the module did not load: {reason}", pytrace=False)
        self._instance: Instance = self._stack.enter_context(result.instance)

    def invoke(self, request: Request | None = None, **fields: Any) -> Outcome:
        """Send `request` (or `Request(**fields)`); never raises for what the module did."""
        return self._instance.invoke(request if request is not None else Request(**fields))

    def close(self) -> None:
        """Close the instance and remove the storage folders. Closing twice is harmless."""
        self._stack.close()


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
def sandbench_backend() -> Iterator[SandboxBackend]:
    """The WASM backend shared by the session's `sandbench_module` fixtures."""
    backend = open_backend(BackendKind.WASM)
    yield backend
    backend.close()


@pytest.fixture
def sandbench_module(
    request: pytest.FixtureRequest, sandbench_backend: SandboxBackend
) -> Iterator[SandboxedModule]:
    """The module under test, loaded in the sandbox with its manifest's limits."""
    path = _module_path(request)
    root = request.config.rootpath
    try:
        package = load(path if path.is_absolute() else root / path)
    except SandbenchError as exc:
        pytest.fail(f"sandbench_module: {exc}", pytrace=False)
    with SandboxedModule(package, sandbench_backend) as module:
        yield module
