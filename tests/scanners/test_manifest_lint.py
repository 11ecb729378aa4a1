"""Manifest lint: CSP sources, connect-src against permissions, wildcards, ceilings."""

from __future__ import annotations

import pytest

from sandbench.scanners import Ceilings, ManifestLintScanner


def _rules(package, ceilings=None):
    result = ManifestLintScanner(ceilings).scan(package)
    return sorted((f.rule_id, f.severity.value, f.message) for f in result.findings)


@pytest.mark.parametrize(
    ("source", "rule", "severity"),
    [
        ("'unsafe-inline'", "csp-unsafe-inline", "high"),
        ("'unsafe-eval'", "csp-unsafe-eval", "high"),
        ("'wasm-unsafe-eval'", "csp-unsafe-eval", "medium"),
        ("*", "csp-wildcard-source", "high"),
        ("https://*.example.com", "csp-wildcard-source", "medium"),
        ("data:", "csp-scheme-source", "medium"),
        ("https:", "csp-scheme-source", "medium"),
    ],
)
def test_csp_sources(make_package, source, rule, severity):
    package = make_package(csp={"script-src": f"'self' {source}"})
    [(got_rule, got_severity, message)] = _rules(package)
    assert (got_rule, got_severity) == (rule, severity)
    assert source in message


def test_a_strict_csp_is_clean(make_package):
    package = make_package(
        csp={"default-src": "'self'", "connect-src": "'self' https://api.example.com"},
        permissions=["api:external:api.example.com"],
    )
    assert _rules(package) == []


def test_connect_src_and_permissions_must_match_both_ways(make_package):
    package = make_package(
        csp={"connect-src": "https://crm.example.com wss://feed.example.org:8443"},
        permissions=["api:external:crm.example.com", "api:external:billing.example.com"],
    )
    assert _rules(package) == [
        (
            "csp-host-not-permitted",
            "medium",
            "connect-src names feed.example.org but no api:external permission covers it",
        ),
        (
            "permission-not-in-csp",
            "low",
            "api:external:billing.example.com is granted but connect-src does not name it",
        ),
    ]


def test_subdomain_permission_covers_connect_src_hosts(make_package):
    package = make_package(
        csp={"connect-src": "https://a.example.com"}, permissions=["api:external:*.example.com"]
    )
    assert [r[0] for r in _rules(package)] == ["wildcard-permission"]


def test_wildcard_permissions(make_package):
    package = make_package(permissions=["storage:read:*", "api:external:*.example.com"])
    assert [(r[0], r[1]) for r in _rules(package)] == [
        ("wildcard-permission", "high"),
        ("wildcard-permission", "medium"),
    ]


def test_limits_above_ceilings(make_package):
    package = make_package(
        limits={"memory": "2GiB", "cpu": "4", "timeout": "60s", "storage": "1MB",
                "network": "200req/s"}
    )  # fmt: skip
    found = _rules(package)
    assert [r[2].split(" is ")[0] for r in found] == [
        "security.limits.cpu",
        "security.limits.memory",
        "security.limits.network",
        "security.limits.timeout",
    ]
    assert "is 2.0 GiB, above the ceiling of 1.0 GiB" in found[1][2]
    assert _rules(package, Ceilings(memory_bytes=4 << 30, cpu_millicores=4000,
                                    timeout_ms=60_000, network_per_minute=12_000)) == []  # fmt: skip


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("localhost", "loopback"),
        ("localhost:8080", "loopback"),
        ("admin.localhost", "loopback"),
        ("127.0.0.1:5432", "loopback"),
        ("127.1", "loopback"),
        ("2130706433", "loopback"),
        ("0x7f.0.0.1", "loopback"),
        ("0177.0.0.1:80", "loopback"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - a grant, not a bind
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("metadata.google.internal", "cloud metadata service"),
        ("10.0.0.5:6379", "private"),
        ("192.168.1.1", "private"),
        ("172.17.0.1", "private"),
        ("100.64.0.1", "private"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_grants_of_private_addresses_are_high(make_package, target, reason):
    found = _rules(make_package(permissions=[f"api:external:{target}"]))
    assert [(r[0], r[1]) for r in found] == [("private-address-permission", "high")]
    assert f"names a {reason} address" in found[0][2]


@pytest.mark.parametrize("target", ["crm.example.com", "8.8.8.8:53", "api.example.com:8443"])
def test_grants_of_public_hosts_are_not_flagged(make_package, target):
    assert _rules(make_package(permissions=[f"api:external:{target}"])) == []
