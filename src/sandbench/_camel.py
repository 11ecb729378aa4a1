"""The one key style of sandbench's JSON documents: camelCase, as the platform's.

A model whose `model_config` is `CAMEL` writes camelCase keys (`model_dump` and
`model_dump_json` use the aliases unless told `by_alias=False`) and reads both the camelCase
keys and the Python field names, so a document written by a version that used snake_case
(a nightly summary, a compile record, a scan report kept as a CI artifact) still loads.
Field names stay snake_case in Python; only the JSON changes.
"""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["CAMEL"]

CAMEL = ConfigDict(
    extra="forbid",
    frozen=True,
    alias_generator=to_camel,
    validate_by_name=True,
    validate_by_alias=True,
    serialize_by_alias=True,
)
