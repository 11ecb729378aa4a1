"""The one compiled part of sandbench: `sandbench.sandbox.wasm._native` (issue 17).

Everything else about the package is in pyproject.toml. The extension is plain C over
CPython's API; it does not link against libwasmtime (see the header of _native.c), so
gcc and the Python headers are all it needs, in `pip install -e .` and in a wheel build.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sandbench.sandbox.wasm._native",
            sources=["src/sandbench/sandbox/wasm/_native.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
