"""sandbench: run platform modules in sandboxes with their manifest's limits and report their health."""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from ._version import __version__
    from .errors import (
        BackendUnavailable,
        BenchError,
        InvalidInput,
        ManifestError,
        PolicyError,
        SandbenchError,
        SandboxError,
        ScannerError,
    )
    from .pipeline import check, gate

__all__ = [
    "BackendUnavailable",
    "BenchError",
    "InvalidInput",
    "ManifestError",
    "PolicyError",
    "SandbenchError",
    "SandboxError",
    "ScannerError",
    "__version__",
    "check",
    "gate",
]

# Every name is imported when first used, so that importing a submodule (the console
# script, `sandbench._entry`, which installs the signal handlers) costs almost nothing.
_HOME = {"__version__": "._version", "check": ".pipeline", "gate": ".pipeline"}


def __getattr__(name: str) -> typing.Any:
    if name not in __all__:
        raise AttributeError(f"module 'sandbench' has no attribute {name!r}")
    module = importlib.import_module(_HOME.get(name, ".errors"), __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value
