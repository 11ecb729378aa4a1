"""The recorder: every call kept up to MAX_CALLS and the rest counted, rows as pydantic builds them."""

from __future__ import annotations

from datetime import UTC, datetime

from sandbench.hostapi import Activity, Code, HostCall, Log, Recorder
from sandbench.hostapi.record import MAX_CALLS


def test_rows_are_the_models_model_construct_would_build(recorder):
    before = datetime.now(UTC)
    recorder.call("storage", "read", "docs/" + "k" * 400, Code.NOT_FOUND, "d" * 400)
    recorder.call("http", "fetch", "api.example.com", Code.DENIED, "no api:external grant")
    recorder.call("storage", "read", "docs/hello.txt", Code.OK)
    calls = recorder.drain().calls
    assert [(c.capability, c.action, c.code) for c in calls] == [
        ("storage", "read", "not-found"),
        ("http", "fetch", "denied"),
        ("storage", "read", "ok"),
    ]
    first = calls[0]
    assert (len(first.target), len(first.detail)) == (300, 300)  # cut for the report
    assert before <= first.at <= datetime.now(UTC)
    assert first.at.tzinfo is UTC
    for row in calls:
        slow = HostCall.model_construct(**dict(row))
        assert row == slow
        assert row.model_fields_set == slow.model_fields_set
        assert row.model_dump() == slow.model_dump()
        assert HostCall.model_validate(row.model_dump()) == row  # a valid model, too
    assert recorder.drain() == Activity()  # drained: empty again


def test_calls_past_the_cap_are_counted_not_kept(recorder):
    for i in range(MAX_CALLS + 7):
        assert recorder.call("storage", "read", f"docs/{i}", Code.DENIED) is Code.DENIED
    activity = recorder.drain()
    assert len(activity.calls) == MAX_CALLS
    assert activity.calls[-1].target == f"docs/{MAX_CALLS - 1}"  # the first ones are kept
    assert activity.dropped_calls == 7
    assert len(activity.denied) == MAX_CALLS
    assert recorder.drain().dropped_calls == 0


def test_an_invocation_that_recorded_nothing_drains_an_empty_activity():
    recorder = Recorder()
    assert recorder.drain() == Activity()
    recorder.drop_log(5)  # dropped log bytes alone are still reported
    assert recorder.drain().dropped_log_bytes == 5
    assert recorder.drain() == Activity()


def test_log_lines_are_the_models_model_construct_would_build(recorder):
    before = datetime.now(UTC)
    Log(recorder).write(2, b'{"msg": "slow", "ms": 12}')
    (line,) = recorder.drain().logs
    slow = type(line).model_construct(**dict(line))
    assert line == slow
    assert line.model_fields_set == slow.model_fields_set == {"level", "message", "fields", "at"}
    assert (line.level, line.message, line.fields) == ("warn", "slow", {"ms": 12})
    assert before <= line.at <= datetime.now(UTC)
