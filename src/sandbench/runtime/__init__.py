"""Module lifecycle: limits and grants from the manifest, loading through a backend, requests."""

from __future__ import annotations

from .image import image_packages
from .live import LiveModule, LiveModules
from .loader import AppliedLimits, Workspace, health_request, limits_for
from .suggest import HEADROOM, PermissionUse, Suggestion, observed_use, permission_use, suggest

__all__ = [
    "HEADROOM",
    "AppliedLimits",
    "LiveModule",
    "LiveModules",
    "PermissionUse",
    "Suggestion",
    "Workspace",
    "health_request",
    "image_packages",
    "limits_for",
    "observed_use",
    "permission_use",
    "suggest",
]
