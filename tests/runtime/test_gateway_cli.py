"""`sandbench serve` as a user runs it: a real process on a loopback port, stopped by SIGTERM."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from sandbench.cli import cli
from tests.conftest import EXAMPLES

SANDBENCH = str(Path(sys.executable).parent / "sandbench")


def test_serve_answers_and_stops_cleanly_on_sigterm(tmp_path):
    command = [SANDBENCH, "serve", str(EXAMPLES / "hello"), str(EXAMPLES / "hostile" / "trap"),
               "--port", "0", "--instances", "1", "--cache-dir", str(tmp_path)]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stderr.readline() for _ in range(3)]
        assert lines[0].strip() == "sandbench: /hello/ ready"
        port = int(re.search(r"serving on http://127.0.0.1:(\d+)", lines[2]).group(1))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/trap/")
        assert connection.getresponse().status == 502
        connection.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        process.stderr.close()


def test_serve_a_bad_module_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert result.output.strip().endswith("not a directory; give the folder that holds module.json")


def test_serve_two_modules_at_one_route_is_a_usage_error():
    hello = str(EXAMPLES / "hello")
    result = CliRunner().invoke(cli, ["serve", hello, hello])
    assert result.exit_code == 2
    assert "another module is already served at /hello" in result.output


def test_serve_a_taken_port_is_an_environment_error(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", str(EXAMPLES / "hello"), "--port", str(port),
                                          "--cache-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 3
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
