"""Listing an image's Python distributions from its layers, without running it.

The layer logic runs on hand-made `docker save` tars (both layouts); the real engine's
images, their whiteouts and cleanup are in the `docker`-marked tests at the end.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbench.errors import BackendUnavailable, SandboxError
from sandbench.sandbox.container import (
    PYTHON_IMAGE,
    Distribution,
    connect,
    image_distributions,
    inventory,
)
from sandbench.sandbox.container.inventory import read_saved_image

SITE = "usr/local/lib/python3.11/site-packages"
DIST = "usr/lib/python3/dist-packages"


def metadata(name: str, version: str, body: str = "") -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n{body}".encode()


def layer(files: dict[str, bytes | None]) -> bytes:
    """A layer tar: path -> file bytes, or None for an empty file (a whiteout marker)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data or b"")
            tar.addfile(info, io.BytesIO(data or b""))
    return out.getvalue()


def saved(
    layers: list[bytes],
    *,
    oci: bool = False,
    extra: dict[str, bytes] | None = None,
    named: list[str] | None = None,
    manifest: str = "manifest.json",
) -> bytes:
    """A `docker save` tar: legacy (<id>/layer.tar) or OCI (blobs/, legacy names as links)."""
    out = io.BytesIO()
    names = []
    with tarfile.open(fileobj=out, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("config.json" if not oci else "blobs/sha256/config", b'{"config": {}}')
        for index, data in enumerate(layers):
            if oci:
                blob = f"blobs/sha256/{index:064x}"
                add(blob, data)
                link = tarfile.TarInfo(f"{index:064x}/layer.tar")
                link.type = tarfile.SYMTYPE
                link.linkname = f"../{blob}"
                tar.addfile(link)
                names.append(f"{index:064x}/layer.tar")
            else:
                add(f"{index:064x}/layer.tar", data)
                names.append(f"{index:064x}/layer.tar")
        for name, data in (extra or {}).items():
            add(name, data)
        entry = {"Config": "config.json", "Layers": names if named is None else named}
        add(manifest, json.dumps([entry]).encode())
    return out.getvalue()


def listing(data: bytes) -> list[Distribution]:
    return read_saved_image(io.BytesIO(data))


REQUESTS = f"{SITE}/requests-2.19.0.dist-info"


@pytest.mark.parametrize("oci", [False, True], ids=["legacy", "oci"])
def test_dist_info_and_egg_info_are_listed_from_both_layouts(oci):
    base = layer(
        {
            f"{REQUESTS}/METADATA": metadata("requests", "2.19.0", "Version: 9.9\n"),
            f"{REQUESTS}/RECORD": b"",
            f"{DIST}/urllib3-1.24.1.egg-info": metadata("urllib3", "1.24.1"),
            f"{DIST}/six-1.16.0.egg-info/PKG-INFO": metadata("six", "1.16.0"),
            "opt/app/requests-1.0.dist-info/METADATA": metadata("requests", "1.0"),  # no site dir
        }
    )
    assert listing(saved([base], oci=oci)) == [
        Distribution("six", "1.16.0", f"/{DIST}/six-1.16.0.egg-info"),
        Distribution("urllib3", "1.24.1", f"/{DIST}/urllib3-1.24.1.egg-info"),
        Distribution("requests", "2.19.0", f"/{REQUESTS}"),
    ]


@pytest.mark.parametrize(
    "upper",
    [
        {f"{SITE}/.wh.requests-2.19.0.dist-info": None},
        {f"{REQUESTS}/.wh.METADATA": None},
        {"usr/local/lib/.wh.python3.11": None},
        {f"{SITE}/.wh..wh..opq": None, f"{SITE}/other.txt": b""},
    ],
    ids=["folder", "metadata-file", "parent", "opaque"],
)
def test_a_later_whiteout_hides_what_a_lower_layer_installed(upper):
    base = layer(
        {f"{REQUESTS}/METADATA": metadata("requests", "2.19.0"), f"{DIST}/x.egg-info": b""}
    )
    assert listing(saved([base, layer(upper)])) == []


def test_a_layer_above_the_whiteout_may_install_it_again():
    base = layer({f"{REQUESTS}/METADATA": metadata("requests", "2.19.0")})
    gone = layer({f"{SITE}/.wh..wh..opq": None})
    again = layer({f"{REQUESTS}/METADATA": metadata("requests", "2.19.0")})
    assert listing(saved([base, gone, again])) == [
        Distribution("requests", "2.19.0", f"/{REQUESTS}")
    ]


def test_only_layers_the_manifest_names_count_and_a_missing_one_fails():
    stray = layer({f"{REQUESTS}/METADATA": metadata("requests", "2.19.0")})
    data = saved([layer({})], extra={"blobs/sha256/stray": stray})
    assert listing(data) == []
    no_layer = saved([], named=["gone/layer.tar"])
    with pytest.raises(SandboxError, match=r"lacks its layer gone/layer\.tar"):
        listing(no_layer)


@pytest.mark.parametrize(
    "text",
    [
        b"Name: requests\n",  # no version
        b"Name: ../../etc\nVersion: 1.0\n",
        b"Name: requests\nVersion: not a version\n",
        b"\xff\xfe garbage",
    ],
)
def test_metadata_that_does_not_parse_is_left_out(text):
    assert listing(saved([layer({f"{REQUESTS}/METADATA": text})])) == []


def test_only_the_head_of_a_huge_metadata_file_is_read(monkeypatch):
    monkeypatch.setattr(inventory, "MAX_METADATA_BYTES", 100)
    big = metadata("requests", "2.19.0", "x" * 10_000)
    assert [d.name for d in listing(saved([layer({f"{REQUESTS}/METADATA": big})]))] == ["requests"]


def test_symlinked_metadata_is_not_followed():
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        link = tarfile.TarInfo(f"{REQUESTS}/METADATA")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    assert listing(saved([out.getvalue()])) == []


@pytest.mark.parametrize(
    ("bound", "value", "message"),
    [
        ("MAX_ENTRIES", 3, "more than 3 layer entries"),
        ("MAX_UNPACKED_BYTES", 10, "unpack to more than 10 bytes"),
        ("MAX_DISTRIBUTIONS", 1, "more than 1 distribution metadata files"),
        ("MAX_OUTER_ENTRIES", 2, "more than 2 entries"),
    ],
)
def test_a_hostile_image_fails_at_a_bound_rather_than_half_listed(
    monkeypatch, bound, value, message
):
    monkeypatch.setattr(inventory, bound, value)
    files: dict[str, bytes | None] = {
        f"{SITE}/p{i}-1.0.dist-info/METADATA": metadata(f"p{i}", "1.0") for i in range(5)
    }
    with pytest.raises(SandboxError, match=message):
        listing(saved([layer(files)]))


def test_the_stream_is_cut_at_its_byte_bound_and_garbage_is_refused():
    data = saved([layer({f"{REQUESTS}/METADATA": metadata("requests", "2.19.0")})])
    chunks = (data[i : i + 512] for i in range(0, len(data), 512))
    with pytest.raises(SandboxError, match="larger than 4096 bytes"):
        read_saved_image(inventory._Chunks(chunks, 4096))
    with pytest.raises(SandboxError, match="not a readable tar"):
        listing(b"not a tar" * 200)
    with pytest.raises(SandboxError, match=r"no manifest\.json"):
        listing(saved([], manifest="index.json"))


def test_no_engine_is_backend_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    with pytest.raises(BackendUnavailable):
        connect()


# On a real Docker Engine.

DOCKERFILE = f"""FROM {PYTHON_IMAGE}
COPY requests.dist-info /{REQUESTS}
COPY urllib3.egg-info /{DIST}/urllib3-1.24.1.egg-info
"""


def build_image(client, folder: Path, dockerfile: str, made: list[str]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(dockerfile)
    tag = f"sandbench-test/inventory:{uuid.uuid4().hex[:12]}"
    client.images.build(
        path=str(folder), tag=tag, rm=True, forcerm=True, pull=False, network_mode="none"
    )
    made.append(tag)
    return tag


def write_packages(folder: Path) -> None:
    (folder / "requests.dist-info").mkdir(parents=True)
    (folder / "requests.dist-info" / "METADATA").write_bytes(metadata("requests", "2.19.0"))
    (folder / "urllib3.egg-info").write_bytes(metadata("urllib3", "1.24.1"))


@pytest.fixture
def client() -> Iterator[object]:
    try:
        engine = connect()
    except BackendUnavailable as exc:
        pytest.skip(f"no Docker Engine: {exc}")
    made: list[str] = []
    engine.made = made  # type: ignore[attr-defined]
    try:
        yield engine
    finally:
        for tag in reversed(made):
            engine.images.remove(tag, force=True)
        engine.close()


@pytest.mark.docker
def test_a_real_image_lists_what_its_layers_installed(client, tmp_path):
    write_packages(tmp_path / "ctx")
    tag = build_image(client, tmp_path / "ctx", DOCKERFILE, client.made)
    assert image_distributions(client, tag) == [
        Distribution("urllib3", "1.24.1", f"/{DIST}/urllib3-1.24.1.egg-info"),
        Distribution("requests", "2.19.0", f"/{REQUESTS}"),
    ]
    assert image_distributions(client, PYTHON_IMAGE) == []  # debootstrap's python3 has none


@pytest.mark.docker
def test_a_real_layer_that_deletes_a_dist_info_hides_it(client, tmp_path):
    write_packages(tmp_path / "ctx")
    base = build_image(client, tmp_path / "ctx", DOCKERFILE, client.made)
    removed = build_image(
        client, tmp_path / "rm", f"FROM {base}\nRUN rm -rf /{REQUESTS}\n", client.made
    )
    opaque = build_image(
        client,
        tmp_path / "opq",
        f"FROM {base}\nRUN rm -rf /{DIST} && mkdir -p /{DIST} && touch /{DIST}/kept\n",
        client.made,
    )
    assert [d.name for d in image_distributions(client, removed)] == ["urllib3"]
    assert [d.name for d in image_distributions(client, opaque)] == ["requests"]


@pytest.mark.docker
def test_a_missing_image_is_a_sandbox_error_naming_it(client):
    with pytest.raises(SandboxError, match="image sandbench/absent:none is not in the Docker"):
        image_distributions(client, "sandbench/absent:none")
