"""A container module's image, as the dependency scan audits it: the Python distributions
installed in it (`scanners.pip_audit` reads them beside the module's requirements)."""

from __future__ import annotations

from sandbench.errors import SandboxError
from sandbench.manifests import ModulePackage
from sandbench.scanners import ImagePackages

__all__ = ["image_packages"]


def image_packages(package: ModulePackage) -> ImagePackages | None:
    """For a container module, the distributions installed in its image (building a
    `runtime.build` image when the engine lacks it), or why they cannot be listed; None
    for any other module. Never raises for the image: that is in `unreadable`."""
    runtime = package.manifest.runtime
    if runtime.kind != "container":
        return None
    from sandbench.sandbox.container import module_image_distributions

    try:
        image, found = module_image_distributions(package)
    except SandboxError as exc:
        named = runtime.image or f"built from {runtime.build}"
        return ImagePackages(image=named, unreadable=str(exc))
    return ImagePackages(image=image, packages=tuple(found))
