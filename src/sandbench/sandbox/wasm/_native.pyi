# The C extension _native.c (see its header comment); native.py is its only user.

from collections.abc import Set as AbstractSet
from typing import Any, TypeVar

from pydantic import BaseModel

_M = TypeVar("_M", bound=BaseModel)

def init(
    call_unchecked: int,
    set_fuel: int,
    get_fuel: int,
    set_deadline: int,
    memory_data: int,
    memory_data_size: int,
    val_raw_size: int,
    /,
) -> None: ...
def reactor_call(
    context: int,
    alloc: int,
    handle: int,
    memory: int,
    fuel: int,
    ticks: int,
    request: bytes,
    cap: int,
    /,
) -> tuple[int, int, int, int, bytes | None, float, float, int, int]: ...
def init_models(
    base: type[BaseModel],
    dict_slot: object,
    fields_set_slot: object,
    extra_slot: object,
    private_slot: object,
    /,
) -> None: ...
def made(cls: type[_M], fields: dict[str, Any], fields_set: AbstractSet[str], /) -> _M: ...
