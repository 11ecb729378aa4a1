"""The Python distributions an image holds, read from its layers without running it.

`image_distributions(client, ref)` streams the image as `docker save` writes it (no
container starts), reads each layer tar in turn and collects the metadata files of
distributions installed under a `site-packages` or `dist-packages` folder:
`*.dist-info/METADATA`, `*.egg-info/PKG-INFO` and single-file `*.egg-info` (Debian's
packages use both forms). Their `Name` and `Version` headers make a `Distribution`; one
whose name or version does not parse is left out (pip-audit could not look it up either),
and only regular files count: a metadata path that is a symlink or hard link is not followed.
The layers are then applied bottom up, as the overlay file system does when the image
runs: a later layer's whiteout `.wh.NAME` hides `NAME` and all below it, and an opaque
folder (`.wh..wh..opq`) hides what the lower layers had in it.

The tar comes from the engine, but the layers hold whatever the image's author put there,
so every read is bounded (the `MAX_*` constants): bytes streamed, bytes a layer unpacks
to, entries, distributions and the bytes read of one metadata file. Reaching a bound
raises `SandboxError` rather than returning part of the answer. Python's `tarfile` reads a
pax header whole, so one header can cost memory up to the size of its layer.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.parser import HeaderParser
from typing import IO, Any, NamedTuple

import docker
import docker.errors
from packaging.version import InvalidVersion, Version

from sandbench.errors import SandboxError
from sandbench.manifests import ContainerRuntime, ModulePackage

from .backend import connect
from .images import build_module_image, module_image_tag

__all__ = ["Distribution", "image_distributions", "module_image_distributions"]

MAX_IMAGE_BYTES = 16 * 1024**3  # the saved tar, streamed
MAX_UNPACKED_BYTES = 64 * 1024**3  # the sum of every layer entry's size
MAX_ENTRIES = 2_000_000  # entries in all layers together
MAX_OUTER_ENTRIES = 10_000  # entries of the saved tar itself (layers, configs)
MAX_DISTRIBUTIONS = 20_000
MAX_METADATA_BYTES = 256 * 1024  # the headers come first; a description may follow
MAX_MANIFEST_BYTES = 1024 * 1024
_SITE_DIRS = frozenset({"site-packages", "dist-packages"})
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"


class Distribution(NamedTuple):
    """A distribution installed in an image: `path` is its `.dist-info` (or `.egg-info`)."""

    name: str
    version: str
    path: str


@dataclass
class _Layer:
    """What one layer adds (metadata file path -> distribution) and what it hides."""

    found: dict[str, Distribution] = field(default_factory=dict)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)


@dataclass
class _Budget:
    entries: int = 0
    unpacked: int = 0
    distributions: int = 0

    def entry(self, size: int) -> None:
        self.entries += 1
        self.unpacked += max(size, 0)
        if self.entries > MAX_ENTRIES:
            raise SandboxError(f"the image has more than {MAX_ENTRIES} layer entries")
        if self.unpacked > MAX_UNPACKED_BYTES:
            raise SandboxError(f"the image's layers unpack to more than {MAX_UNPACKED_BYTES} bytes")


class _Chunks(io.RawIOBase):
    """A file over the chunks the engine streams, refusing to read past `limit` bytes."""

    def __init__(self, chunks: Iterable[bytes], limit: int) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self._read = 0
        self._limit = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._read += len(chunk)
            if self._read > self._limit:
                raise SandboxError(f"the saved image is larger than {self._limit} bytes")
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def module_image_distributions(package: ModulePackage) -> tuple[str, list[Distribution]]:
    """The image a container module runs (`runtime.image`, or the image the backend builds
    from `runtime.build`, built now when the engine lacks it) and its distributions.

    Raises `BackendUnavailable` without a Docker Engine and `SandboxError` when the image
    is missing, does not build or cannot be read.
    """
    runtime = package.manifest.runtime
    if not isinstance(runtime, ContainerRuntime):
        raise SandboxError(f"{package.root}: runtime.kind is {runtime.kind}, not container")
    client = connect()
    try:
        ref = runtime.image or _built_image(client, package, runtime)
        return ref, image_distributions(client, ref)
    finally:
        client.close()


def _built_image(
    client: docker.DockerClient, package: ModulePackage, runtime: ContainerRuntime
) -> str:
    tag = module_image_tag(package)
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        build_module_image(client, package, runtime)
    except docker.errors.DockerException as exc:
        raise SandboxError(f"the Docker Engine could not look up {tag}: {exc}") from None
    return tag


def image_distributions(client: docker.DockerClient, ref: str) -> list[Distribution]:
    """The Python distributions image `ref` holds, read statically; see the module docstring.

    Raises `SandboxError` when the engine lacks the image, or the image cannot be read
    within the bounds.
    """
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        raise SandboxError(f"image {ref} is not in the Docker Engine") from None
    except docker.errors.DockerException as exc:
        raise SandboxError(f"the Docker Engine could not look up image {ref}: {exc}") from None
    try:
        chunks = image.save(chunk_size=1024 * 1024)
        try:
            return read_saved_image(_Chunks(chunks, MAX_IMAGE_BYTES))
        finally:
            close = getattr(chunks, "close", None)  # a generator over the engine's response
            if close is not None:
                close()
    except docker.errors.DockerException as exc:
        raise SandboxError(f"the Docker Engine could not save image {ref}: {exc}") from None
    except SandboxError as exc:
        raise SandboxError(f"image {ref} cannot be read: {exc}") from None


def read_saved_image(stream: IO[bytes] | io.RawIOBase) -> list[Distribution]:
    """The distributions in a `docker save` tar read from `stream`, sorted by path.

    Raises `SandboxError` for a tar that is unreadable, lacks a layer its manifest names,
    or passes a bound.
    """
    budget = _Budget()
    layers: dict[str, _Layer] = {}
    links: dict[str, str] = {}
    manifest: Any = None
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as outer:
            for member in _members(outer, MAX_OUTER_ENTRIES):
                name = _clean(member.name)
                if member.issym():
                    links[name] = _clean(posixpath.join(posixpath.dirname(name), member.linkname))
                elif member.isreg() and name == "manifest.json":
                    manifest = json.loads(_read(outer, member, MAX_MANIFEST_BYTES))
                elif member.isreg() and _maybe_layer(name):
                    layer = _read_layer(outer.extractfile(member), budget)
                    if layer is not None:
                        layers[name] = layer
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise SandboxError(f"the saved image is not a readable tar ({exc})") from None
    return _apply(_layer_order(manifest, layers, links))


def _members(tar: tarfile.TarFile, limit: int | None = None) -> Iterator[tarfile.TarInfo]:
    count = 0
    while (member := tar.next()) is not None:
        count += 1
        if limit is not None and count > limit:
            raise SandboxError(f"more than {limit} entries")
        # A streamed TarFile keeps every member it has read; a layer may have millions.
        tar.members.clear()  # type: ignore[attr-defined]
        yield member


def _clean(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def _maybe_layer(name: str) -> bool:
    # The legacy layout has <id>/layer.tar; the OCI layout has blobs/<alg>/<hex>, where
    # configs and manifests live too (they fail to open as a tar and are passed over).
    return name.endswith("/layer.tar") or name.startswith("blobs/")


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    file = tar.extractfile(member)
    if file is None:
        return b""
    return file.read(limit)


def _read_layer(file: IO[bytes] | None, budget: _Budget) -> _Layer | None:
    if file is None:
        return None
    try:
        layer_tar = tarfile.open(fileobj=file, mode="r|*")  # noqa: SIM115 - the with below
    except tarfile.ReadError:
        return None  # a JSON config or manifest blob
    layer = _Layer()
    with layer_tar:
        for member in _members(layer_tar):  # the budget counts every layer's entries
            budget.entry(member.size)
            _entry(layer_tar, member, layer, budget)
    return layer


def _entry(tar: tarfile.TarFile, member: tarfile.TarInfo, layer: _Layer, budget: _Budget) -> None:
    path = "/" + _clean(member.name)
    folder, base = posixpath.split(path)
    if base == _OPAQUE:
        layer.opaque.append(folder)
    elif base.startswith(_WHITEOUT):
        layer.whiteouts.append(posixpath.join(folder, base[len(_WHITEOUT) :]))
    elif member.isreg() and (where := _metadata_of(path)) is not None:
        found = _distribution(_read(tar, member, MAX_METADATA_BYTES), where)
        if found is not None:
            budget.distributions += 1
            if budget.distributions > MAX_DISTRIBUTIONS:
                raise SandboxError(f"more than {MAX_DISTRIBUTIONS} distribution metadata files")
            layer.found[path] = found


def _metadata_of(path: str) -> str | None:
    """The distribution folder (or file) whose metadata `path` is, or None."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[-3] in _SITE_DIRS:
        if parts[-2].endswith(".dist-info") and parts[-1] == "METADATA":
            return posixpath.dirname(path)
        if parts[-2].endswith(".egg-info") and parts[-1] == "PKG-INFO":
            return posixpath.dirname(path)
    if len(parts) >= 2 and parts[-2] in _SITE_DIRS and parts[-1].endswith(".egg-info"):
        return path
    return None


def _distribution(data: bytes, where: str) -> Distribution | None:
    head = data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n", 1)[0]
    headers = HeaderParser().parsestr(head, headersonly=True)
    name, version = str(headers.get("Name", "")).strip(), str(headers.get("Version", "")).strip()
    if not _NAME.match(name):
        return None
    try:
        Version(version)
    except InvalidVersion:
        return None
    return Distribution(name, version, where)


def _layer_order(manifest: Any, layers: dict[str, _Layer], links: dict[str, str]) -> list[_Layer]:
    try:
        names = [str(n) for n in manifest[0]["Layers"]]
    except (TypeError, KeyError, IndexError):
        raise SandboxError("the saved image has no manifest.json naming its layers") from None
    ordered = []
    for name in names:
        target = _clean(name)
        for _ in range(8):  # legacy <id>/layer.tar entries may link to blobs/
            target = links.get(target, target)
        if target not in layers:
            raise SandboxError(f"the saved image lacks its layer {name}")
        ordered.append(layers[target])
    return ordered


def _apply(layers: list[_Layer]) -> list[Distribution]:
    present: dict[str, Distribution] = {}
    for layer in layers:
        gone, opaque = set(layer.whiteouts), set(layer.opaque)
        if gone or opaque:
            present = {p: d for p, d in present.items() if not _hidden(p, gone, opaque)}
        present.update(layer.found)
    return sorted(set(present.values()), key=lambda d: (d.path, d.name))


def _hidden(path: str, gone: set[str], opaque: set[str]) -> bool:
    """True when a whiteout names `path` or a folder above it, or a folder above is opaque."""
    if path in gone:
        return True
    folder = posixpath.dirname(path)
    while folder != "/":
        if folder in gone or folder in opaque:
            return True
        folder = posixpath.dirname(folder)
    return "/" in opaque
