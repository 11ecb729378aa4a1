"""Images: the base image without a registry, and the images modules build from a Dockerfile.

The base image is a minimal Debian + python3 root, built with debootstrap.

`build_python_image` runs `debootstrap --variant=minbase --include=python3` (the interpreter and its standard library) from
the machine's configured apt source into a temporary folder, packs the root into a tar
kept in the cache folder, and imports it into the Docker Engine as `PYTHON_IMAGE`. Each
step is skipped when its result is already there, so running it twice costs a lookup.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from sandbench.errors import SandboxError
from sandbench.manifests import ContainerRuntime, ModulePackage

from .hardening import LABEL

__all__ = [
    "PYTHON_IMAGE",
    "PYTHON_RECIPE",
    "apt_source",
    "build_module_image",
    "build_python_image",
    "image_present",
    "module_image_tag",
]

PYTHON_IMAGE = "sandbench/python:bookworm"
SUITE = "bookworm"
# Bump when the recipe changes: the label tells an image built by an older recipe apart.
PYTHON_RECIPE = f"debootstrap-minbase-python3-{SUITE}-2"
_LABEL = "org.sandbench.recipe"

Progress = Callable[[str], None]


def apt_source(root: Path = Path("/etc/apt")) -> str:
    """The first Debian mirror URI the machine's apt configuration names (deb822 or one-line)."""
    files = sorted((root / "sources.list.d").glob("*.sources"))
    for path in files:
        for block in path.read_text(errors="replace").split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in block.splitlines() if re.match(r"^[A-Za-z-]+:", line)
            )
            types = fields.get("Types", "").split()
            suites = fields.get("Suites", "").split()
            if "deb" in types and SUITE in suites:
                return fields["URIs"].split()[0]
    one_line = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            match = re.match(rf"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+{SUITE}\s", line)
            if match:
                return match.group(1)
    raise SandboxError(
        f"no apt source for Debian {SUITE} in {root}; pass --mirror URL "
        "(a Debian mirror such as http://deb.debian.org/debian)"
    )


def image_present(client: docker.DockerClient, name: str = PYTHON_IMAGE) -> bool:
    """True when the engine holds `name` built by the current recipe."""
    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return bool((image.labels or {}).get(_LABEL) == PYTHON_RECIPE)


def build_python_image(
    client: docker.DockerClient,
    cache_dir: Path,
    *,
    mirror: str | None = None,
    force: bool = False,
    progress: Progress = lambda _: None,
) -> str:
    """Build (or reuse) `PYTHON_IMAGE` and return its name. Raises `SandboxError`."""
    if not force and image_present(client):
        progress(f"{PYTHON_IMAGE} is up to date (recipe {PYTHON_RECIPE})")
        return PYTHON_IMAGE
    tarball = cache_dir / f"{PYTHON_RECIPE}.tar"
    if force or not tarball.is_file():
        _debootstrap_tar(tarball, mirror or apt_source(), progress)
    else:
        progress(f"reusing the cached root {tarball}")
    progress(f"importing {tarball.name} as {PYTHON_IMAGE}")
    _import(client, tarball)
    progress(f"{PYTHON_IMAGE} ready")
    return PYTHON_IMAGE


def _debootstrap_tar(tarball: Path, mirror: str, progress: Progress) -> None:
    tool = shutil.which("debootstrap")
    if tool is None:
        raise SandboxError("debootstrap is not installed; install it: apt-get install debootstrap")
    tarball.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(prefix="sandbench-rootfs-") as work:
        root = Path(work) / "root"
        progress(f"debootstrap {SUITE} (minbase + python3) from {mirror} ...")
        _run(
            [
                tool,
                "--variant=minbase",
                "--include=python3",
                SUITE,
                str(root),
                mirror,
            ],
            "debootstrap",
        )
        # apt lists and caches are not needed at run time and are most of the size.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / junk, ignore_errors=True)
        progress("packing the root file system")
        partial = tarball.with_suffix(".tar.partial")
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], "tar")
        partial.replace(tarball)


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    except OSError as exc:
        raise SandboxError(f"{what} could not start: {exc.strerror}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise SandboxError(f"{what} failed with status {done.returncode}: {tail[0]}")


def _import(client: docker.DockerClient, tarball: Path) -> None:
    repository, tag = PYTHON_IMAGE.rsplit(":", 1)
    try:
        previous: str | None = client.images.get(PYTHON_IMAGE).id
    except docker.errors.ImageNotFound:
        previous = None
    changes = [
        f"LABEL {_LABEL}={PYTHON_RECIPE}",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["python3"]',
    ]
    try:
        client.api.import_image_from_file(
            str(tarball), repository=repository, tag=tag, changes=changes
        )
    except docker.errors.DockerException as exc:
        raise SandboxError(f"importing {tarball} into the Docker Engine failed: {exc}") from None
    if not image_present(client):
        raise SandboxError(f"the engine did not keep {PYTHON_IMAGE} after the import")
    if previous is not None and previous != client.images.get(PYTHON_IMAGE).id:
        # An image of an older recipe, now untagged: drop it (containers may still use it).
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(previous)


def module_image_tag(package: ModulePackage) -> str:
    """The tag the image of a `runtime.build` module gets: its name and digest."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", package.manifest.name.lower()).strip("-.")
    return f"sandbench-build/{slug}:{package.digest[:16]}"


def build_module_image(
    client: docker.DockerClient, package: ModulePackage, runtime: ContainerRuntime
) -> str:
    """Build the module's Dockerfile folder (`runtime.build`) with no network and no pull,
    tag it `module_image_tag(package)` and return the image id.

    Raises `SandboxError` with the engine's reason when the build fails.
    """
    try:
        image, _ = client.images.build(
            path=str(package.root / (runtime.build or ".")),
            tag=module_image_tag(package),
            labels={LABEL: "1", f"{LABEL}.digest": package.digest},
            rm=True,
            forcerm=True,
            pull=False,
            network_mode="none",
        )
    except docker.errors.BuildError as exc:
        raise SandboxError(f"the image build failed: {str(exc.msg)[:300]}") from None
    except docker.errors.APIError as exc:
        raise SandboxError(f"the image build failed: {exc.explanation}") from None
    return str(image.id)
