"""What the capability rules share: the scanner's name, the host API and how findings look."""

from __future__ import annotations

from pathlib import Path

from sandbench.hostapi.abi import CORE_NAMESPACE
from sandbench.manifests import Permission, Resource
from sandbench.scanners.interface import Finding, Severity, fingerprint

__all__ = [
    "HOST_FUNCTIONS",
    "HOST_NAMESPACE",
    "NAME",
    "PermissionIndex",
    "finding",
    "granted",
    "unused",
]

NAME = "capabilities"
HOST_NAMESPACE = CORE_NAMESPACE
# Host function -> the (resource, actions) any one of which grants it; None needs nothing.
HOST_FUNCTIONS: dict[str, tuple[Resource, tuple[str, ...]] | None] = {
    "http_fetch": (Resource.API, ("external",)),
    "storage_read": (Resource.STORAGE, ("read", "write")),
    "storage_list": (Resource.STORAGE, ("read", "write")),
    "storage_write": (Resource.STORAGE, ("write",)),
    "storage_delete": (Resource.STORAGE, ("write",)),
    "db_query": (Resource.DATABASE, ("read", "write")),
    "db_execute": (Resource.DATABASE, ("write",)),
    "log": None,
}


def finding(
    rule: str, severity: Severity, message: str, path: str, subject: str, line: int | None = None
) -> Finding:
    """A capabilities finding; `subject` (an import, a permission, a source line) and the
    path make its fingerprint."""
    return Finding(
        scanner=NAME,
        rule_id=rule,
        severity=severity,
        message=message,
        path=Path(path) if path else None,
        line=line,
        fingerprint=fingerprint(NAME, rule, path, subject),
    )


def granted(perms: tuple[Permission, ...], resource: Resource, actions: tuple[str, ...]) -> bool:
    """Does any permission grant `resource` with one of `actions`? (One pass: for many
    questions about the same permissions, use `PermissionIndex`.)"""
    return any(p.resource is resource and p.action in actions for p in perms)


MAX_HOST = 253  # the longest DNS name; a longer "host" is matched by `*` only


class PermissionIndex:
    """The manifest's permissions indexed once, so that judging n imports or calls against
    p permissions costs about n + p, not n x p (a manifest may hold thousands of grants,
    a module hundreds of thousands of imports or calls).

    Targets are matched the way the host API matches them: buckets and schemas by name;
    hosts by name, `*.domain` (any host ending in `.domain`) and `*`, and a grant with a
    port only for that port.
    """

    def __init__(self, perms: tuple[Permission, ...]) -> None:
        self._kind: dict[tuple[Resource, str], list[Permission]] = {}
        self._target: dict[tuple[Resource, str, str], list[Permission]] = {}
        for perm in perms:
            self._kind.setdefault((perm.resource, perm.action), []).append(perm)
            target = perm.target
            if perm.resource is Resource.API:
                name, _, port = target.partition(":")
                target = f"{name}:{port}"
            self._target.setdefault((perm.resource, perm.action, target), []).append(perm)

    def granted(self, resource: Resource, actions: tuple[str, ...]) -> bool:
        """Does any permission grant `resource` with one of `actions`?"""
        return any((resource, action) in self._kind for action in actions)

    def of_kind(self, resource: Resource, actions: tuple[str, ...]) -> list[Permission]:
        """The permissions of `resource` with one of `actions`, whatever their target."""
        return [p for a in actions for p in self._kind.get((resource, a), ())]

    def covering(
        self, resource: Resource, actions: tuple[str, ...], target: str
    ) -> list[Permission]:
        """The permissions that grant `target`: a bucket, a schema or a URL's `host:port`."""
        if resource is not Resource.API:
            keys = [target]
        else:
            host, _, port = target.rpartition(":")
            names = ["*", host]
            if len(host) <= MAX_HOST:
                names += ["*" + host[i:] for i, c in enumerate(host) if c == "."]
            keys = [f"{n}:{p}" for n in names for p in ("", port)]
        return [p for a in actions for k in keys for p in self._target.get((resource, a, k), ())]


def unused(perm: Permission, why: str) -> Finding:
    """The least-privilege finding: `perm` is declared but `why` (nothing can use it)."""
    return finding(
        "unused-permission",
        Severity.LOW,
        f"permission {perm} is declared but {why}",
        "module.json",
        str(perm),
    )
