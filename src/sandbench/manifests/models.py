"""The module manifest (`module.json`), as pydantic models.

Unit strings are parsed into numbers on load (see `units`), permissions into `Permission`s.
The models are frozen and forbid unknown fields, so a typo in a manifest is an error, not
a silently ignored limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from .limits import LIMITS, LimitSpec, limit_fields
from .permissions import Permission, parse_permission
from .units import Rate, parse_rate

__all__ = [
    "Author",
    "ContainerRuntime",
    "HealthCheck",
    "HealthExpect",
    "HealthRequest",
    "Manifest",
    "ManifestLimits",
    "ModulePackage",
    "Runtime",
    "Security",
    "WasmRuntime",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _network(value: object) -> Rate | None:
    # None and Rate are what the field holds: `ManifestLimits(network=None)` must work, and
    # null means what a missing limit means (no requests), as null does for the other limits.
    if value is None or isinstance(value, Rate):
        return value
    return parse_rate(value)


NetworkRate = Annotated[
    Rate | None,
    BeforeValidator(_network),
    WithJsonSchema(
        {
            "type": ["string", "null"],
            "pattern": r"^(none|\d+\s*req\s*/\s*(s|sec|second|min|minute|h|hour))$",
            "examples": ["100req/min", "5req/s", "none"],
        }
    ),
]
PermissionField = Annotated[
    Permission,
    BeforeValidator(parse_permission),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            # An api target may end in a port (api:external:host:8443).
            "pattern": r"^((database|storage):(read|write):[^:\s]+|api:external:[^:\s]+(:\d{1,5})?)$",
            "examples": ["database:read:vendas_schema", "api:external:crm.example.com"],
        }
    ),
]

# semver.org 2.0.0, section "Is there a suggested regular expression".
_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@dataclass(frozen=True)
class Matching:
    """Annotation: a string that must match `pattern`; the error says `expected {what}`."""

    pattern: str
    what: str
    max_length: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        result = handler(schema)
        result.update(pattern=self.pattern, maxLength=self.max_length)
        return result

    def _check(self, value: str) -> str:
        if len(value) > self.max_length:
            raise ValueError(f"expected at most {self.max_length} characters")
        # fullmatch: with re.match, `$` also matches before a final newline ("name\n").
        if re.fullmatch(self.pattern, value) is None:
            raise ValueError(f"expected {self.what}")
        return value


ModuleName = Annotated[
    str,
    Matching(
        r"^(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*$",
        "a lower-case package name such as @scope/name or name",
        214,
    ),
]
HeaderName = Annotated[str, Matching(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", "an HTTP header name", 256)]
Text = Annotated[str, Matching(r"^[^\x00-\x1f\x7f]*$", "text without control characters", 8192)]
# Header values and request paths go on the wire as ASCII (http.client encodes header
# values as Latin-1 and refuses control characters in paths): anything else is refused
# here, where the error can name the field, not in the middle of a health check.
HeaderValue = Annotated[
    str, Matching(r"^[\x20-\x7e\t]*$", "printable ASCII text without control characters", 8192)
]
RequestPath = Annotated[
    str,
    Matching(
        r"^/[\x21-\x22\x24-\x7e]*$", "a path starting with / in printable ASCII (no spaces)", 2048
    ),
]
CspDirective = Annotated[
    str, Matching(r"^[a-z][a-z-]*$", "a CSP directive name such as connect-src", 64)
]
Spdx = Annotated[
    str, Matching(r"^[A-Za-z0-9.+\-() :]+$", "an SPDX license expression such as MIT", 512)
]
Signature = Annotated[
    str,
    Matching(
        r"^SHA256:[0-9a-fA-F]{64}$",
        "SHA256:<64 hex digits> (`sandbench manifest digest DIR` prints it)",
        71,
    ),
]
Email = Annotated[str, Matching(r"^[^@\s]+@[^@\s]+$", "an e-mail address", 254)]
Url = Annotated[str, Matching(r"^https?://\S+$", "an http(s) URL", 2048)]


def _semver(value: str) -> str:
    if _SEMVER_RE.fullmatch(value) is None:
        raise ValueError("expected a semantic version such as 2.1.0 or 1.0.0-rc.1")
    return value


MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255


def _module_path(value: str) -> PurePosixPath:
    """A path inside the module as the file system will take it: printable (no NUL, no
    control character, no lone surrogate), at most 1024 bytes, each name at most 255."""
    if not value.isprintable():
        raise ValueError("expected a path without control characters or invalid Unicode")
    if len(value.encode()) > MAX_PATH_BYTES:
        raise ValueError(f"expected a path of at most {MAX_PATH_BYTES} bytes")
    if any(len(part.encode()) > MAX_NAME_BYTES for part in value.split("/")):
        raise ValueError(f"expected names of at most {MAX_NAME_BYTES} bytes in the path")
    return PurePosixPath(value)


def _entry_path(value: str) -> str:
    path = _module_path(value)
    if value.startswith("/") or "\\" in value or ".." in path.parts or not path.parts:
        raise ValueError("expected a relative path inside the module, e.g. module.wasm")
    if path.suffix not in (".wasm", ".wat"):
        raise ValueError("expected a .wasm or .wat file")
    return path.as_posix()


def _python_source(value: str) -> str:
    path = _module_path(value)
    if value.startswith("/") or "\\" in value or ".." in path.parts or len(path.parts) != 1:
        raise ValueError("expected a Python file at the module's top level, e.g. app.py")
    if path.suffix != ".py" or not path.stem.isidentifier():
        raise ValueError("expected a .py file whose name is a Python identifier, e.g. app.py")
    return path.as_posix()


class WasmRuntime(BaseModel):
    """`runtime` for WebAssembly modules (see docs/abi.md).

    `abi: component` is a WebAssembly component of the world `sandbench:platform/module`;
    `source` names the Python file `sandbench build` makes it from (docs/components.md).
    """

    model_config = _STRICT

    kind: Literal["wasm"]
    entry: Annotated[str, AfterValidator(_entry_path)]
    abi: Literal["command", "reactor", "component"] = "command"
    source: Annotated[str, AfterValidator(_python_source)] | None = None

    @model_validator(mode="after")
    def _source_for_components(self) -> WasmRuntime:
        if self.source is not None and self.abi != "component":
            raise ValueError("source (a Python file to build from) needs abi component")
        if self.abi == "component" and not self.entry.endswith(".wasm"):
            raise ValueError("a component's entry is the built .wasm file, e.g. module.wasm")
        return self


def _module_dir(value: str) -> str:
    path = _module_path(value)
    if value.startswith("/") or "\\" in value or ".." in path.parts:
        raise ValueError(
            "expected a folder inside the module holding a Dockerfile, e.g. . or image"
        )
    return path.as_posix()


def _command(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value or len(value) > 256 or any(len(part) > 4096 for part in value):
        raise ValueError('expected 1 to 256 strings, e.g. ["python3", "/module/server.py"]')
    if any("\x00" in part for part in value):
        raise ValueError("expected strings without NUL characters (a process cannot take them)")
    return value


ImageRef = Annotated[
    str,
    Matching(
        r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$",
        "an image reference such as sandbench/python:bookworm or python:3.12-slim",
        512,
    ),
]


class ContainerRuntime(BaseModel):
    """`runtime` for container modules: an HTTP server on `$PORT` (see docs/containers.md).

    Exactly one of `image` (an image reference, local or pulled) and `build` (a folder
    inside the module holding a Dockerfile) says where the image comes from.
    """

    model_config = _STRICT

    kind: Literal["container"]
    image: ImageRef | None = None
    build: Annotated[str, AfterValidator(_module_dir)] | None = None
    port: int = Field(default=8080, ge=1, le=65535)
    command: Annotated[tuple[str, ...], AfterValidator(_command)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ContainerRuntime:
        if (self.image is None) == (self.build is None):
            raise ValueError("expected exactly one of image (a reference) and build (a folder)")
        return self


def _runtime_kind(value: Any) -> str | None:
    # Without `kind`, validate as wasm (the default backend), so that the errors name every
    # missing field rather than only the tag.
    if isinstance(value, dict):
        kind = value.get("kind", "wasm")
        return kind if isinstance(kind, str) else None
    return getattr(value, "kind", None)


Runtime = Annotated[
    Annotated[WasmRuntime, Tag("wasm")] | Annotated[ContainerRuntime, Tag("container")],
    Discriminator(_runtime_kind),
]


class ManifestLimits(BaseModel):
    """`security.limits`; a missing limit takes the policy's default."""

    model_config = _STRICT

    # One optional field per limit a manifest may declare (the `limits.LIMITS` table, its
    # docstring is the schema's description); read one with `getattr(limits, spec.name)`.
    __annotations__.update(limit_fields(LimitSpec.manifest_type, [s for s in LIMITS if s.declared]))
    network: NetworkRate = None


class Security(BaseModel):
    """`security`: what the module may reach and what it may use."""

    model_config = _STRICT

    permissions: tuple[PermissionField, ...] = ()
    csp: dict[CspDirective, str] = Field(
        default_factory=dict, json_schema_extra={"additionalProperties": False}
    )
    limits: ManifestLimits = ManifestLimits()

    @field_validator("permissions")
    @classmethod
    def _no_duplicates(cls, value: tuple[Permission, ...]) -> tuple[Permission, ...]:
        seen: set[str] = set()
        for permission in value:
            if str(permission) in seen:
                raise ValueError(f"duplicate permission {str(permission)!r}")
            seen.add(str(permission))
        return value


class HealthRequest(BaseModel):
    """The request sandbench sends to check that the module answers."""

    model_config = _STRICT

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: RequestPath = "/"
    # additionalProperties: pydantic puts the key pattern in patternProperties, which alone
    # would let a key that does not match through.
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict, json_schema_extra={"additionalProperties": False}
    )
    body: str = Field(default="", max_length=1024 * 1024)


class HealthExpect(BaseModel):
    """What the health request's answer must look like."""

    model_config = _STRICT

    status: int = Field(default=200, ge=100, le=599)
    contains: str | None = Field(default=None, max_length=8192)


class HealthCheck(BaseModel):
    """`health`: one request and its expected answer."""

    model_config = _STRICT

    request: HealthRequest = HealthRequest()
    expect: HealthExpect = HealthExpect()


class Author(BaseModel):
    """`author`. `verified` is what the manifest claims, not something sandbench checked
    (the report's `author.verified` is computed from `module.sig`, see `publisher`)."""

    model_config = _STRICT

    name: Text = Field(min_length=1)
    email: Email | None = None
    url: Url | None = None
    verified: bool = False


class Manifest(BaseModel):
    """A module's `module.json`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: str | None = Field(default=None, alias="$schema")
    name: ModuleName
    version: Annotated[str, AfterValidator(_semver)] = Field(
        json_schema_extra={"pattern": _SEMVER_RE.pattern}
    )
    license: Spdx | None = None
    description: str | None = Field(default=None, max_length=4096)
    runtime: Runtime
    security: Security = Security()
    health: HealthCheck = HealthCheck()
    signature: Signature | None = None
    author: Author | None = None

    @property
    def module_id(self) -> str:
        """The id the platform knows the module by: its name."""
        return self.name


class ModulePackage(BaseModel):
    """A loaded module: its manifest, where it lives and the digest of its files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest: Manifest
    root: Path
    digest: str
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @property
    def entry_path(self) -> Path:
        """The absolute path of the runtime's entry file (the build folder for containers)."""
        runtime = self.manifest.runtime
        if isinstance(runtime, ContainerRuntime):
            return self.root / (runtime.build or ".")
        return self.root / runtime.entry

    @property
    def signature_ok(self) -> bool | None:
        """True when the signature matches the digest, False when not, None when unsigned."""
        signature = self.manifest.signature
        if signature is None:
            return None
        return signature.split(":", 1)[1].lower() == self.digest
