"""The installed version of sandbench."""

from __future__ import annotations

import importlib.metadata

try:
    __version__ = importlib.metadata.version("sandbench")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
    __version__ = "0.0.0+unknown"
