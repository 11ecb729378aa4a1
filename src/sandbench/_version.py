"""The installed version of sandbench, and of the engines and scanners it drives."""

from __future__ import annotations

import importlib.metadata

try:
    __version__ = importlib.metadata.version("sandbench")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
    __version__ = "0.0.0+unknown"


def installed_versions(names: list[str]) -> dict[str, str]:
    """Each distribution in `names` with its installed version, or "not installed"."""
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
