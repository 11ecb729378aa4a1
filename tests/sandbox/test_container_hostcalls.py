"""`limits.hostcalls` in the container backend: the host API socket answers requests past
the limit `quota` (507) unserved, the call gets a `hostcalls` violation, and the next call
starts afresh on the same container (real Docker Engine)."""

from __future__ import annotations

import json

import pytest

from tests.sandbox.test_container import get, start, write_module

pytestmark = pytest.mark.docker

# Logs "hi" eight times over one keep-alive connection to the host API; returns each status.
EIGHT_LOGS = """
import http.client

class HostApi(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/run/sandbench/host.sock")

host, statuses = HostApi("host"), []
for _ in range(8):
    host.request("POST", "/v1/log?level=info", body=b"hi")
    answer = host.getresponse()
    answer.read()
    statuses.append([answer.status, answer.getheader("Sandbench-Error")])
host.close()
return statuses
"""


def test_host_calls_past_the_limit_are_refused_with_quota_each_call_afresh(engine, tmp_path):
    limits = {"memory": "64MB", "cpu": "500m", "timeout": "5s", "hostcalls": 5}
    result = start(engine, write_module(tmp_path / "hostcalls", EIGHT_LOGS, limits=limits))
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcomes = [get(instance) for _ in range(2)]
    served, refused = [204, None], [507, "quota"]
    for outcome in outcomes:  # the second call is answered: a refusal does not spend it
        assert json.loads(outcome.response.body) == [served] * 5 + [refused] * 3
        assert outcome.violation is not None
        assert outcome.violation.kind.value == "hostcalls"
        assert outcome.violation.message.startswith("3 host call(s) refused with HTTP 507 quota")
        assert "limits.hostcalls (5)" in outcome.violation.message
        assert [line.message for line in outcome.host.logs] == ["hi"] * 5
        denied = [(c.capability, c.action, c.code, c.detail) for c in outcome.host.denied]
        assert denied == [("log", "log", "quota", "past limits.hostcalls")] * 3


def test_host_calls_within_the_limit_are_all_served(engine, tmp_path):
    limits = {"memory": "64MB", "cpu": "500m", "timeout": "5s", "hostcalls": 8}
    result = start(engine, write_module(tmp_path / "within", EIGHT_LOGS, limits=limits))
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcome = get(instance)
    assert outcome.ok, outcome.violation
    assert json.loads(outcome.response.body) == [[204, None]] * 8
