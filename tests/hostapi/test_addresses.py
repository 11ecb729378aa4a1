"""Which addresses a module may reach: public unicast only, in every spelling and wrapping."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbench.hostapi.addresses import is_public, literal_address, private_reason

NON_PUBLIC = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
]


@st.composite
def non_public_v4(draw: st.DrawFn) -> ipaddress.IPv4Address:
    network = ipaddress.ip_network(draw(st.sampled_from(NON_PUBLIC)))
    offset = draw(st.integers(0, network.num_addresses - 1))
    return network[offset]


def wrappings(v4: ipaddress.IPv4Address) -> list[str]:
    """The IPv6 forms that carry `v4`."""
    n = int(v4)
    return [
        f"::ffff:{v4}",  # IPv4-mapped
        str(ipaddress.IPv6Address(n)),  # IPv4-compatible
        str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | n)),  # NAT64
        str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80))),  # 6to4
        # Teredo: the client address is stored inverted in the last 32 bits
        str(ipaddress.IPv6Address((0x20010000 << 96) | (n ^ 0xFFFFFFFF))),
    ]


@given(non_public_v4())
def test_a_non_public_ipv4_is_refused_in_every_wrapping(v4):
    assert not is_public(str(v4))
    for form in wrappings(v4):
        assert not is_public(form), form


@given(st.integers(0, 2**32 - 1))
def test_every_spelling_of_an_ipv4_is_read_as_the_resolver_reads_it(n):
    v4 = ipaddress.IPv4Address(n)
    a, b, c, d = v4.packed
    for spelling in (str(n), hex(n), f"0{n:o}", f"{a}.{(b << 16) | (c << 8) | d}",
                     f"{a:#x}.{b:#x}.{c:#x}.{d:#x}", f"0{a:o}.0{b:o}.0{c:o}.0{d:o}"):  # fmt: skip
        assert literal_address(spelling) == v4, spelling


SUSPECTS = [
    "127.0.0.1",
    "::1",
    "169.254.169.254",
    "fd00:ec2::254",
    "::",
    "0.0.0.0",  # noqa: S104 - an address a module names, not a bind
    "ff02::1",
    "fe80::1%eth0",
    "::ffff:169.254.169.254",
    "not an address",
]


@pytest.mark.parametrize("address", SUSPECTS)
def test_the_usual_suspects_are_refused(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_unicast_is_allowed(address):
    assert is_public(address)


@pytest.mark.parametrize(
    ("host", "reason"),
    [("LocalHost.", "loopback"), ("db.localhost", "loopback"),
     ("metadata.google.internal", "cloud metadata service"), ("[::1]", "loopback"),
     ("2852039166", "link-local (cloud metadata)"), ("crm.example.com", None),
     ("deadbeef", None), ("1.2.3.4.5", None)],
)  # fmt: skip
def test_private_reason_needs_no_dns(host, reason):
    assert private_reason(host) == reason
