"""The `network` limit as a sliding window, shared by the http capability and the
container egress proxy so that both read a manifest's rate the same way."""

from __future__ import annotations

import collections
import threading
import time

from sandbench.manifests import Rate

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """At most `rate.requests` requests in any `rate.period_s` seconds; thread-safe.

    `None` (the manifest's `network: none`, or no `network` at all) allows no request:
    outbound traffic is denied by default.
    """

    def __init__(self, rate: Rate | None) -> None:
        self._rate = rate
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Count one request now; False when the window is full (or no rate is granted)."""
        if self._rate is None:
            return False
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] >= self._rate.period_s:
                self._times.popleft()
            if len(self._times) >= self._rate.requests:
                return False
            self._times.append(now)
            return True
