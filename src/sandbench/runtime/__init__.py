"""Module lifecycle: limits and grants from the manifest, loading through a backend, requests."""

from __future__ import annotations

from .loader import AppliedLimits, Workspace, health_request, limits_for
from .suggest import HEADROOM, PermissionUse, Suggestion, permission_use, suggest

__all__ = [
    "HEADROOM",
    "AppliedLimits",
    "PermissionUse",
    "Suggestion",
    "Workspace",
    "health_request",
    "limits_for",
    "permission_use",
    "suggest",
]
