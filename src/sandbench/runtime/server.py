"""Running the gateway on uvicorn: in the foreground (`sandbench serve`) or on a background
thread (`sandbench bench`, tests, benchmarks), always on a socket we bind ourselves so
that port 0 works and the bound port is known before the first request.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import uvicorn

from sandbench.errors import SandbenchError, SandboxError
from sandbench.hostapi import HostSettings
from sandbench.manifests import load
from sandbench.sandbox import Closing, SandboxBackend, SandboxLimits

from .gateway import Gateway, ModuleSpec
from .loader import Workspace, limits_for

__all__ = [
    "BackgroundServer",
    "bind",
    "module_specs",
    "serve_modules",
    "serve_until_signalled",
    "uvicorn_config",
]


def module_specs(
    paths: list[Path],
    defaults: SandboxLimits,
    ceilings: SandboxLimits,
    stack: ExitStack,
    host: HostSettings | None = None,
) -> list[ModuleSpec]:
    """Validate each module and give it a route (its folder name), limits and storage;
    `host` says where the host API and the egress proxy reach (`--resolve` pins).

    Raises `ManifestError` for an invalid module and `ValueError` for two modules with one
    route. Each module's storage workspace is closed by `stack`.
    """
    specs: list[ModuleSpec] = []
    for path in paths:
        package = load(path)
        route = package.root.name
        if any(spec.route == route for spec in specs):
            raise ValueError(f"{path}: another module is already served at /{route}")
        workspace = stack.enter_context(Workspace(package.manifest, host=host))
        applied = limits_for(package.manifest, defaults, ceilings).limits
        specs.append(ModuleSpec(route, package, applied, workspace.grants))
    return specs


def bind(host: str, port: int, *, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0: any free port).

    `reuse_port` lets other sockets of this user bind the same port (`SO_REUSEPORT`: the
    kernel spreads connections over those listening); `listen=False` only reserves it.
    Raises `SandboxError` naming the address when it cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only when it does,
    # and without it Nagle plus delayed ACKs add 40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SandboxError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if listen:
        sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Any) -> uvicorn.Config:
    """uvicorn settings for the gateway: h11, no access log, lifespan handled by the app."""
    return uvicorn.Config(
        app,
        http="h11",
        loop="asyncio",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=30,
        backlog=2048,
    )


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived: uvicorn has shut down (or, in the supervisor of
    `--workers`, the workers are to be stopped); now release what we hold."""


def _stop(signum: int, _frame: object) -> None:
    raise _Stopped(signum)


def serve_modules(
    specs: list[ModuleSpec],
    backend: SandboxBackend,
    *,
    listen: str,
    port: int,
    instances: int,
    announce: Callable[[str], None],
) -> None:
    """Serve `specs` through a gateway on `listen`:`port` in the foreground until SIGTERM or
    SIGINT, then close its instances and the socket; `announce` hears each module's state
    and the address. Raises `SandboxError` when the address cannot be bound."""
    with Gateway(specs, backend, instances=instances) as gateway:
        for route, state in gateway.start().items():
            announce(f"/{route}/ {state}")
        sock = bind(listen, port)
        try:
            shown = f"[{listen}]" if ":" in listen else listen
            announce(f"serving on http://{shown}:{sock.getsockname()[1]}")
            serve_until_signalled(gateway, sock)
        finally:
            sock.close()


def serve_until_signalled(app: Any, sock: socket.socket) -> None:
    """Serve `app` on `sock` in the foreground until SIGTERM or SIGINT, then return.

    Raises `SandbenchError` when serving fails.
    """
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the
    # handlers it found; ours turns it into an exception, so that the caller's `with`
    # blocks close the instances and remove the temporary folders before a clean exit 0.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.Server(uvicorn_config(app)).run(sockets=[sock])
    except _Stopped:
        pass
    except OSError as exc:  # pragma: no cover - the socket is already bound
        raise SandbenchError(f"serving failed: {exc}") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class BackgroundServer(Closing):
    """Serve `app` on a background thread until closed; `url` is where it listens.

    Raises `SandboxError` when the server has not started within `start_timeout_s`.
    """

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 10.0
    ) -> None:
        self._sock = bind(host, port)
        bound = self._sock.getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.url = f"http://{shown}:{bound[1]}"
        self._server = uvicorn.Server(uvicorn_config(app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
            name="sandbench-server",
        )  # fmt: skip
        self._thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise SandboxError(f"the gateway did not start on {self.url}")
            time.sleep(0.01)

    def close(self) -> None:
        """Stop serving and wait for the thread. Closing twice is harmless."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()
