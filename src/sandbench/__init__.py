"""sandbench: run platform modules in sandboxes with their manifest's limits and report their health."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
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
del TYPE_CHECKING

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

# Every name is imported when first used, and this module imports nothing at all, so that
# the console script (`sandbench._entry`) has its signal handlers in place at once.
_HOME = {"__version__": "._version", "check": ".pipeline", "gate": ".pipeline"}


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'sandbench' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(_HOME.get(name, ".errors"), __name__), name)
    globals()[name] = value
    return value
