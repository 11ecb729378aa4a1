"""Module lifecycle: limits and grants from the manifest, loading through a backend, requests."""

from __future__ import annotations

from .loader import AppliedLimits, Workspace, health_request, limits_for

__all__ = ["AppliedLimits", "Workspace", "health_request", "limits_for"]
