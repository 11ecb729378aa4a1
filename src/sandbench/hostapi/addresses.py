"""Which addresses a module may reach: public unicast only, whatever the spelling.

A module that names a host (an `api:external:HOST` grant, an egress proxy request, a URL
for the `http` capability) must not reach the machine sandbench runs on or its private
network: loopback, private, link-local (and with it the cloud metadata service at
169.254.169.254), unique-local (fd00:ec2::254), multicast, unspecified and reserved
addresses are refused, also when wrapped in an IPv6 form that carries an IPv4 address
(IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
`2002::/16`, Teredo). Names are resolved once and the caller connects to the address it
checked, never to the name again, so a DNS answer that changes in between (rebinding)
changes nothing.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator

__all__ = ["METADATA_NAMES", "is_public", "literal_address", "private_reason", "public_addresses"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names cloud providers give their instance metadata services.
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
        "100-100-100-200.alibaba",
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_SPELLING = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.IGNORECASE)


def _embedded(ip: IPAddress) -> Iterator[IPAddress]:
    """`ip` and every IPv4 address an IPv6 form of it carries."""
    yield ip
    if isinstance(ip, ipaddress.IPv4Address):
        return
    if ip.ipv4_mapped is not None:
        yield ip.ipv4_mapped
    if ip.sixtofour is not None:
        yield ip.sixtofour
    if ip.teredo is not None:
        yield from ip.teredo
    if ip in _NAT64 or ip in _COMPATIBLE:
        yield ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def _refusal(ip: IPAddress) -> str | None:
    for part in _embedded(ip):
        if part.is_loopback:
            return "loopback"
        if part.is_link_local:
            return "link-local (cloud metadata)"
        if part.is_multicast:
            return "multicast"
        if part.is_unspecified:
            return "unspecified"
        if not part.is_global or part.is_reserved:
            return "private"
    return None


def is_public(address: str) -> bool:
    """True for a public unicast IP literal (a zone `%eth0` is ignored); False otherwise,
    including for a string that is not an IP address."""
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return False
    return _refusal(ip) is None


def literal_address(host: str) -> IPAddress | None:
    """The IP address `host` spells, in any form the C resolver accepts (`127.1`,
    `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`, `[::1]`), or None for a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        pass
    if not _IPV4_SPELLING.match(text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def private_reason(host: str) -> str | None:
    """Why `host` (a name or literal, no DNS asked) names a non-public place, or None:
    `localhost` and its subdomains, the metadata service names, non-public literals."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback"
    if name in METADATA_NAMES:
        return "cloud metadata service"
    ip = literal_address(name)
    return None if ip is None else _refusal(ip)


def public_addresses(host: str, port: int) -> list[tuple[str, int]]:
    """The public addresses `host` resolves to now, as (address, port); [] when it resolves
    to none. Raises `OSError` when it does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[tuple[str, int]] = []
    for *_, sockaddr in infos:
        address = (str(sockaddr[0]), port)
        if is_public(address[0]) and address not in found:
            found.append(address)
    return found
