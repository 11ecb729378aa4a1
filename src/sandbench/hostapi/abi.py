"""The names of the platform's ABI that a module imports (docs/abi.md).

The sandbox provides these and the scanners judge a module's imports against them without
running it; both read them from here, so the two can never disagree.
"""

from __future__ import annotations

__all__ = [
    "CORE_NAMESPACE",
    "HOST_INTERFACE",
    "TYPES_INTERFACE",
    "component_import_provided",
]

# Core modules: the host API's import module (ABI version 1).
CORE_NAMESPACE = "sandbench:host/v1"
# Components: the world sandbench:platform/module's imported interfaces.
HOST_INTERFACE = "sandbench:platform/host@1.0.0"
TYPES_INTERFACE = "sandbench:platform/types@1.0.0"


def component_import_provided(name: str) -> bool:
    """Does the component linker provide the import `name`? WASI 0.2 (wasmtime's
    `add_wasip2`, which has no `wasi:http`) and the platform's interfaces."""
    return name in (HOST_INTERFACE, TYPES_INTERFACE) or (
        name.startswith("wasi:") and "@0.2." in name and not name.startswith("wasi:http/")
    )
