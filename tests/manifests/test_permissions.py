"""The permission grammar `resource:action:target`."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from sandbench.manifests import Permission, Resource, parse_permission

SHAPE = "expected resource:action:target, e.g. database:read:sales or storage:read:docs"
NAME = "a name of letters, digits, '_', '.', '-' (at most 63), or *"
HOST = "a host name such as crm.example.com (optionally *.example.com or :port)"


@pytest.mark.parametrize(
    ("text", "resource", "action", "target", "wildcard"),
    [
        ("database:read:vendas_schema", Resource.DATABASE, "read", "vendas_schema", False),
        ("database:write:x", Resource.DATABASE, "write", "x", False),
        ("database:read:*", Resource.DATABASE, "read", "*", True),
        ("database:read:Vendas.Schema-2", Resource.DATABASE, "read", "Vendas.Schema-2", False),
        ("api:external:crm.example.com", Resource.API, "external", "crm.example.com", False),
        ("api:external:*.example.com", Resource.API, "external", "*.example.com", True),
        ("api:external:host:8443", Resource.API, "external", "host:8443", False),
        ("api:external:10.0.0.1:80", Resource.API, "external", "10.0.0.1:80", False),
        ("api:external:*", Resource.API, "external", "*", True),
        ("storage:read:docs", Resource.STORAGE, "read", "docs", False),
        ("storage:write:docs", Resource.STORAGE, "write", "docs", False),
        ("storage:write:*", Resource.STORAGE, "write", "*", True),
        ("storage:read:" + "a" * 63, Resource.STORAGE, "read", "a" * 63, False),
    ],
)
def test_valid_permissions(text, resource, action, target, wildcard):
    permission = parse_permission(text)
    assert permission == Permission(resource=resource, action=action, target=target)
    assert permission.is_wildcard is wildcard
    assert str(permission) == text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("api:external:CRM.Example.COM", "api:external:crm.example.com"),
        ("api:external:*.EXAMPLE.com:8443", "api:external:*.example.com:8443"),
        # Only hosts are case-insensitive; schema and bucket names keep their case.
        ("database:read:Vendas", "database:read:Vendas"),
        ("storage:read:Docs", "storage:read:Docs"),
    ],
)
def test_canonical_text(text, canonical):
    permission = parse_permission(text)
    assert str(permission) == canonical
    assert parse_permission(str(permission)) == permission


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("file:read:x", "unknown resource 'file'; expected one of database, api, storage"),
        ("Database:read:x", "unknown resource 'Database'; expected one of database, api, storage"),
        ("database:delete:x", "unknown action 'delete' for database; expected read or write"),
        ("database:READ:x", "unknown action 'READ' for database; expected read or write"),
        ("storage:list:docs", "unknown action 'list' for storage; expected read or write"),
        ("api:internal:x.com", "unknown action 'internal' for api; expected external"),
        ("api:read:x.com", "unknown action 'read' for api; expected external"),
        ("database:read:a b", f"invalid target 'a b'; expected {NAME}"),
        ("database:read:a:b", f"invalid target 'a:b'; expected {NAME}"),
        ("database:read:-x", f"invalid target '-x'; expected {NAME}"),
        ("database:read:*x", f"invalid target '*x'; expected {NAME}"),
        ("storage:read:" + "a" * 64, f"invalid target '{'a' * 64}'; expected {NAME}"),
        ("storage:read:a\nb", f"invalid target 'a\\nb'; expected {NAME}"),
        ("api:external:-bad.com", f"invalid target '-bad.com'; expected {HOST}"),
        ("api:external:host:port", f"invalid target 'host:port'; expected {HOST}"),
        ("api:external:host:123456", f"invalid target 'host:123456'; expected {HOST}"),
        ("api:external:a..com", f"invalid target 'a..com'; expected {HOST}"),
        ("api:external:https://x.com", f"invalid target 'https://x.com'; expected {HOST}"),
        ("api:external:x.com/path", f"invalid target 'x.com/path'; expected {HOST}"),
        ("api:external:a.*.com", f"invalid target 'a.*.com'; expected {HOST}"),
        ("database:read", SHAPE),
        ("database", SHAPE),
        ("", SHAPE),
        ("database::x", SHAPE),
        (":read:x", SHAPE),
        ("database:read:", SHAPE),
        (5, "expected a permission string resource:action:target"),
        (None, "expected a permission string resource:action:target"),
        (["database:read:x"], "expected a permission string resource:action:target"),
    ],
)
def test_invalid_permissions(value, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_permission(value)


def test_permission_is_frozen_and_hashable():
    permission = parse_permission("storage:read:docs")
    with pytest.raises(ValidationError):
        permission.target = "other"  # type: ignore[misc]
    assert {permission, parse_permission("storage:read:docs")} == {permission}
