"""`sandbench serve MODULE...`."""

from __future__ import annotations

import signal
import socket
from contextlib import ExitStack
from pathlib import Path

import click
import uvicorn

from sandbench.errors import SandbenchError
from sandbench.runtime.gateway import Gateway
from sandbench.runtime.server import bind, module_specs, uvicorn_config
from sandbench.sandbox import BackendKind, open_backend

from .config import resolve_policy
from .output import host_from, resolve_option

__all__ = ["serve_command"]


@click.command("serve")
@click.argument("modules", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--instances",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="Live instances per module (each serves one request at a time).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="SANDBENCH_CACHE_DIR",
    default=None,
    help="Where compiled modules are cached (default: ~/.cache/sandbench).",
)
@resolve_option
def serve_command(
    modules: tuple[Path, ...],
    host: str,
    port: int,
    instances: int,
    cache_dir: Path | None,
    resolve: tuple[str, ...],
) -> None:
    """Serve MODULES over HTTP at /{folder name}/..., with /healthz and /metrics.

    Each module runs in the WASM sandbox with its manifest's limits. A module that traps,
    spins or cannot load answers 5xx for its own requests; the others keep serving.
    """
    policy = resolve_policy(None)  # the configuration found upwards, else the built-in one
    with ExitStack() as stack:
        try:
            specs = module_specs(
                list(modules),
                policy.defaults.sandbox(),
                policy.ceilings.sandbox(),
                stack,
                host_from(None, resolve),
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        backend = open_backend(BackendKind.WASM, cache_dir)
        stack.callback(backend.close)
        gateway = stack.enter_context(Gateway(specs, backend, instances=instances))
        for route, state in gateway.start().items():
            click.echo(f"sandbench: /{route}/ {state}", err=True)
        sock = bind(host, port)
        stack.callback(sock.close)
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"sandbench: serving on http://{shown}:{sock.getsockname()[1]}", err=True)
        _run(gateway, sock)


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived: uvicorn has shut down, now release what we hold."""


def _stop(signum: int, _frame: object) -> None:
    raise _Stopped(signum)


def _run(gateway: Gateway, sock: socket.socket) -> None:
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the
    # handlers it found; ours turns it into an exception, so that the `with` blocks above
    # close the instances and remove the temporary folders before a clean exit 0.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.Server(uvicorn_config(gateway)).run(sockets=[sock])
    except _Stopped:
        pass
    except OSError as exc:  # pragma: no cover - the socket is already bound
        raise SandbenchError(f"serving failed: {exc}") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
