"""The log capability: structured lines, caps, levels."""

from __future__ import annotations

from sandbench.hostapi import Code, Log
from sandbench.hostapi.log import LINE_CAP, TOTAL_CAP


def test_json_lines_keep_their_fields(recorder):
    log = Log(recorder)
    assert log.write(1, b'{"message": "order priced", "total": 42}').code is Code.OK
    assert log.write(3, b"plain text").code is Code.OK
    first, second = recorder.drain().logs
    assert (first.level, first.message, first.fields) == ("info", "order priced", {"total": 42})
    assert (second.level, second.message, second.fields) == ("error", "plain text", {})


def test_lines_are_cut_and_the_total_is_capped(recorder):
    log = Log(recorder)
    assert log.write(0, b"x" * (LINE_CAP + 10)).code is Code.OK
    while log.write(0, b"y" * LINE_CAP).code is Code.OK:
        pass
    activity = recorder.drain()
    assert len(activity.logs[0].message) == LINE_CAP
    assert sum(len(line.message) for line in activity.logs) <= TOTAL_CAP + LINE_CAP
    assert activity.dropped_log_bytes >= 10 + LINE_CAP
    log.reset()
    assert log.write(2, b"after reset").code is Code.OK


def test_unknown_level_is_a_bad_argument(recorder):
    assert Log(recorder).write(7, b"x").code is Code.BAD_ARGUMENT
    assert recorder.drain().logs == ()
