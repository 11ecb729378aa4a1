"""Building the sandbox's result models on the per-call path: `sandbench._construct`'s
`built` and `made`, which live below `hostapi` so that the host API's records are built
the same way."""

from __future__ import annotations

from sandbench._construct import built, made

__all__ = ["built", "made"]
