"""Python modules as WebAssembly components: `sandbench build` and the guest side of the world.

`guest/` and `wit/` are bundled into every component (they run inside the sandbox, not
in sandbench); `build.py` drives componentize-py; `scaffold.py` writes a new module to start
from (`sandbench new`). See docs/components.md.
"""

from __future__ import annotations

from .build import BuildResult, build, componentize_py_version, guest_files
from .scaffold import scaffold

__all__ = ["BuildResult", "build", "componentize_py_version", "guest_files", "scaffold"]
