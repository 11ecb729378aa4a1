"""The permission grammar: `resource:action:target`.

| permission | grants |
|---|---|
| `database:read:SCHEMA` / `database:write:SCHEMA` | SQL against that schema, read-only or read-write |
| `api:external:HOST` | outbound HTTP(S) to that host (`*.example.com` covers subdomains) |
| `storage:read:BUCKET` / `storage:write:BUCKET` | the bucket's files, read-only or read-write |

A target is `*` only where the resource allows a wildcard (any schema, host or bucket);
the manifest lint flags wildcards, the parser accepts them.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .text import shown

__all__ = ["Permission", "Resource", "parse_permission"]


class Resource(StrEnum):
    """What a permission is about."""

    DATABASE = "database"
    API = "api"
    STORAGE = "storage"


_ACTIONS: dict[Resource, tuple[str, ...]] = {
    Resource.DATABASE: ("read", "write"),
    Resource.API: ("external",),
    Resource.STORAGE: ("read", "write"),
}
_NAME_RE = re.compile(r"^(\*|[A-Za-z0-9_][A-Za-z0-9_.-]{0,62})$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^(\*|(\*\.)?{_LABEL}(\.{_LABEL})*)(:\d{{1,5}})?$")


class Permission(BaseModel):
    """One parsed permission; `str()` gives back its canonical text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resource: Resource
    action: str
    target: str

    @property
    def is_wildcard(self) -> bool:
        """True when the target covers more than one named thing (`*`, `*.host`)."""
        return self.target.startswith("*")

    def __str__(self) -> str:
        return f"{self.resource.value}:{self.action}:{self.target}"


def parse_permission(value: object) -> Permission:
    """Parse `resource:action:target`, raising `ValueError` that says what is expected."""
    if not isinstance(value, str):
        raise ValueError("expected a permission string resource:action:target")
    parts = value.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            "expected resource:action:target, e.g. database:read:sales or storage:read:docs"
        )
    resource_text, action, target = parts
    try:
        resource = Resource(resource_text)
    except ValueError:
        names = ", ".join(r.value for r in Resource)
        raise ValueError(
            f"unknown resource {shown(resource_text)}; expected one of {names}"
        ) from None
    actions = _ACTIONS[resource]
    if action not in actions:
        raise ValueError(
            f"unknown action {shown(action)} for {resource.value}; expected {' or '.join(actions)}"
        )
    pattern, what = (
        (_HOST_RE, "a host name such as crm.example.com (optionally *.example.com or :port)")
        if resource is Resource.API
        else (_NAME_RE, "a name of letters, digits, '_', '.', '-' (at most 63), or *")
    )
    if pattern.fullmatch(target) is None:  # not match: `$` matches before a final "\n"
        raise ValueError(f"invalid target {shown(target)}; expected {what}")
    return Permission(
        resource=resource,
        action=action,
        target=target.lower() if resource is Resource.API else target,
    )
