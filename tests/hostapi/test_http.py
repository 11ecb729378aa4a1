"""The http capability against a loopback server: allow-list, rate, caps, recording."""

from __future__ import annotations

import pytest

from sandbench.hostapi import Code, Http, HttpSettings, parse_fetch_request
from sandbench.manifests import Rate

PLENTY = Rate(requests=100, period_s=60)


def make(loopback, recorder, hosts=("crm.example.com",), rate=PLENTY, **settings):
    resolve = {"crm.example.com": loopback, "api.example.com": loopback}
    return Http(hosts, rate, HttpSettings(resolve=resolve, **settings), recorder)


def test_granted_host_is_fetched_with_its_own_name(loopback, recorder):
    result = make(loopback, recorder).fetch(b"GET http://crm.example.com/customers?id=7\n\n", 4096)
    assert result.code is Code.OK
    head, _, body = result.data.partition(b"\n\n")
    assert head.startswith(b"Status: 200 OK\n")
    assert body == b"GET /customers?id=7 host=crm.example.com"
    (call,) = recorder.drain().calls
    assert (call.capability, call.target, call.code) == ("http", "crm.example.com", "ok")


def test_module_cannot_choose_the_host_header(loopback, recorder):
    raw = b"GET http://crm.example.com/\nHost: intranet.local\n\n"
    result = make(loopback, recorder).fetch(raw, 4096)
    assert result.data.endswith(b"host=crm.example.com")


def test_post_body_is_sent(loopback, recorder):
    raw = b"POST http://crm.example.com/x\nContent-Type: text/plain\n\npayload"
    assert make(loopback, recorder).fetch(raw, 4096).data.endswith(b"got payload")


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example.net/",
        "http://127.0.0.1/",
        "http://crm.example.com.evil.net/",
        "http://xcrm.example.com/",
        "http://api.example.com/",
    ],
)
def test_ungranted_hosts_are_denied_and_recorded(loopback, recorder, url):
    result = make(loopback, recorder).fetch(f"GET {url}\n\n".encode(), 4096)
    assert result.code is Code.DENIED
    (call,) = recorder.drain().denied
    assert call.capability == "http"
    assert call.target in url
    assert "no api:external:" in call.detail


def test_wildcard_grants_subdomains_only(loopback, recorder):
    http = make(loopback, recorder, hosts=("*.example.com",))
    assert http.fetch(b"GET http://api.example.com/\n\n", 4096).code is Code.OK
    assert http.fetch(b"GET http://example.com/\n\n", 4096).code is Code.DENIED


def test_port_in_the_grant_is_enforced(loopback, recorder):
    http = make(loopback, recorder, hosts=("crm.example.com:8443",))
    assert http.fetch(b"GET http://crm.example.com/\n\n", 4096).code is Code.DENIED


def test_rate_limit_refuses_past_the_window_and_records_it(loopback, recorder):
    http = make(loopback, recorder, rate=Rate(requests=2, period_s=60))
    codes = [http.fetch(b"GET http://crm.example.com/\n\n", 4096).code for _ in range(4)]
    assert codes == [Code.OK, Code.OK, Code.RATE, Code.RATE]
    denied = recorder.drain().denied
    assert [d.code for d in denied] == ["rate", "rate"]
    assert "2req/min" in denied[0].detail


def test_no_network_limit_means_no_requests(loopback, recorder):
    result = make(loopback, recorder, rate=None).fetch(b"GET http://crm.example.com/\n\n", 4096)
    assert result.code is Code.RATE
    assert "none" in recorder.drain().calls[0].detail


def test_response_over_the_cap_is_too_large(loopback, recorder):
    http = make(loopback, recorder, max_response_bytes=64 * 1024)
    assert http.fetch(b"GET http://crm.example.com/big\n\n", 10**7).code is Code.TOO_LARGE
    assert http.fetch(b"GET http://crm.example.com/big\n\n", 1024).code is Code.TOO_LARGE


def test_slow_server_hits_the_time_cap(loopback, recorder):
    http = make(loopback, recorder, timeout_s=0.2)
    assert http.fetch(b"GET http://crm.example.com/slow\n\n", 4096).code is Code.TIMEOUT


def test_granted_name_resolving_to_loopback_is_refused(recorder):
    http = Http(("localhost",), PLENTY, HttpSettings(), recorder)
    assert http.fetch(b"GET http://localhost:1/\n\n", 4096).code is Code.DENIED
    assert "non-public" in recorder.drain().calls[0].detail


@pytest.mark.parametrize(
    "host",
    [
        "127.1",  # the C resolver's short and numeric spellings of loopback
        "2130706433",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",  # IPv6 forms that carry a non-public IPv4 address
        "[::ffff:169.254.169.254]",
        "224.0.0.1",  # multicast is not unicast, whatever `is_global` says
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
    ],
)
def test_granted_non_public_addresses_are_refused_in_any_spelling(recorder, host):
    # `api:external:*` grants every host; the address rule (hostapi/addresses.py, as for
    # the containers' egress proxy) still keeps the module off the host's own services.
    http = Http(("*",), PLENTY, HttpSettings(), recorder)
    assert http.fetch(f"GET http://{host}:1/\n\n".encode(), 4096).code is Code.DENIED
    assert "non-public" in recorder.drain().calls[0].detail


def test_refused_connection_is_failed(recorder):
    http = Http(
        ("crm.example.com",),
        PLENTY,
        HttpSettings(resolve={"crm.example.com": "127.0.0.1:1"}),
        recorder,
    )
    assert http.fetch(b"GET http://crm.example.com/\n\n", 4096).code is Code.FAILED


@pytest.mark.parametrize(
    "raw",
    [b"", b"GET\n\n", b"FETCH http://crm.example.com/\n\n", b"GET http://a/\nbad header\n\n"],
)
def test_malformed_requests_are_bad_arguments(loopback, recorder, raw):
    assert parse_fetch_request(raw) is None
    assert make(loopback, recorder).fetch(raw, 4096).code is Code.BAD_ARGUMENT


@pytest.mark.parametrize(
    "url",
    ["ftp://crm.example.com/", "http://user:pw@crm.example.com/", "http://crm.example.com:99999/"],
)
def test_odd_urls_are_bad_arguments(loopback, recorder, url):
    assert make(loopback, recorder).fetch(f"GET {url}\n\n".encode(), 4096).code is Code.BAD_ARGUMENT
