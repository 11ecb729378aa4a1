# The C extension _native.c (see its header comment); native.py is its only user.

from collections.abc import Set as AbstractSet
from typing import Any, TypeVar

from pydantic import BaseModel

from sandbench.sandbox.interface import Request

_M = TypeVar("_M", bound=BaseModel)

def init(
    call_unchecked: int,
    set_fuel: int,
    get_fuel: int,
    set_deadline: int,
    memory_data: int,
    memory_data_size: int,
    increment_epoch: int,
    val_raw_size: int,
    /,
) -> None: ...
def reactor_call(
    context: int,
    alloc: int,
    handle: int,
    memory: int,
    ticks: int,
    cap: int,
    ticker: object,
    bucket: object,
    rate: float,
    window: float,
    fuel: int,
    request: bytes,
    check: bool,
    /,
) -> tuple[int, int, int, int, bytes | None, float, float, int, int]: ...
def envelope(request: Request, /) -> bytes: ...
def bucket_charge(
    bucket: object, now: float, cost: float, rate: float, window: float, /
) -> None: ...
def bucket_wait(bucket: object, now: float, rate: float, /) -> float: ...
def ticker_new(engine: object, engine_address: int, tick_ms: int, /) -> object: ...
def ticker_add(ticker: object, engine: object, engine_address: int, /) -> None: ...
def ticker_owed(ticker: object, now: float | None = None, /) -> int: ...
def ticker_catch_up(ticker: object, now: float, /) -> int: ...
def ticker_stop(ticker: object, /) -> None: ...
def ticker_expire_all(ticker: object, /) -> None: ...
def ticker_start(ticker: object, /) -> float: ...
def init_models(
    base: type[BaseModel],
    dict_slot: object,
    fields_set_slot: object,
    extra_slot: object,
    private_slot: object,
    /,
) -> None: ...
def made(cls: type[_M], fields: dict[str, Any], fields_set: AbstractSet[str], /) -> _M: ...
