"""The parts of one project's manifest a split needs, decoded with msgspec.

meshkit's shared decoder (meshkit.dbt.artifacts) reads what every command needs; a split also
needs the project's macros, unit tests, disabled nodes and the owners of its groups with every
key they carry (a `github:` handle for CODEOWNERS), so it extends that decoder here.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from meshkit.dbt.artifacts import SUPPORTED_MANIFEST_VERSIONS, Manifest, Node
from meshkit.errors import MeshError


class MacroDependsOn(msgspec.Struct):
    macros: list[str] = msgspec.field(default_factory=list)


class Macro(msgspec.Struct):
    unique_id: str
    name: str
    package_name: str
    original_file_path: str = ""
    macro_sql: str = ""
    depends_on: MacroDependsOn = msgspec.field(default_factory=MacroDependsOn)


class UnitTestDependsOn(msgspec.Struct):
    nodes: list[str] = msgspec.field(default_factory=list)
    macros: list[str] = msgspec.field(default_factory=list)


class UnitTest(msgspec.Struct):
    unique_id: str
    name: str
    package_name: str
    model: str = ""
    original_file_path: str = ""
    depends_on: UnitTestDependsOn = msgspec.field(default_factory=UnitTestDependsOn)


class GroupEntry(msgspec.Struct):
    unique_id: str
    name: str
    package_name: str
    original_file_path: str = ""
    owner: dict[str, Any] = msgspec.field(default_factory=dict)


class SplitManifest(Manifest):
    macros: dict[str, Macro] = msgspec.field(default_factory=dict)
    unit_tests: dict[str, UnitTest] = msgspec.field(default_factory=dict)
    disabled: dict[str, list[Node]] = msgspec.field(default_factory=dict)
    semantic_models: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)
    metrics: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)
    saved_queries: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)
    functions: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)


class _Owners(msgspec.Struct):
    groups: dict[str, GroupEntry] = msgspec.field(default_factory=dict)


_decoder = msgspec.json.Decoder(SplitManifest)
_owners_decoder = msgspec.json.Decoder(_Owners)
_SCHEMA_RE = re.compile(r"/manifest/v(\d+)\.json$")


def decode_split_manifest(data: bytes, *, source: str) -> tuple[SplitManifest, dict[str, GroupEntry]]:
    """The manifest, and its groups with their owners' every key."""
    try:
        manifest = _decoder.decode(data)
        owners = _owners_decoder.decode(data).groups
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MeshError(f"cannot read the manifest: {exc}", file=source,
                        hint="run `dbt parse` in the project again") from None
    match = _SCHEMA_RE.search(manifest.metadata.dbt_schema_version)
    if (int(match.group(1)) if match else None) not in SUPPORTED_MANIFEST_VERSIONS:
        raise MeshError(f"unsupported manifest schema '{manifest.metadata.dbt_schema_version}'",
                        file=source, hint="parse the project with dbt-core 1.10 or 1.11")
    return manifest, owners
