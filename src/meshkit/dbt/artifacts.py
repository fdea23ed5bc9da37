"""Typed, partial decoders for dbt's artifacts (manifest.json, run_results.json).

Only the fields meshkit reads are declared; msgspec skips the rest of a large manifest
without building dicts for it, which is what makes reading a 70 MB manifest take a fraction
of a second.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from meshkit.errors import MeshError

# Manifest schemas that carry groups, access, versions and contracts (dbt 1.6 – 1.11).
SUPPORTED_MANIFEST_VERSIONS = range(10, 13)
_SCHEMA_VERSION_RE = re.compile(r"/manifest/v(\d+)\.json$")

Version = str | int | float


class Contract(msgspec.Struct):
    enforced: bool = False


class NodeConfig(msgspec.Struct):
    materialized: str | None = None
    access: str | None = None
    group: str | None = None
    contract: Contract = msgspec.field(default_factory=Contract)
    enabled: bool = True
    tags: list[str] | str = msgspec.field(default_factory=list)


class DependsOn(msgspec.Struct):
    nodes: list[str] = msgspec.field(default_factory=list)


class Node(msgspec.Struct):
    unique_id: str
    resource_type: str
    package_name: str
    name: str
    schema_: str | None = msgspec.field(default=None, name="schema")
    database: str | None = None
    alias: str | None = None
    relation_name: str | None = None
    original_file_path: str = ""
    access: str | None = None
    group: str | None = None
    version: Version | None = None
    latest_version: Version | None = None
    deprecation_date: str | None = None
    config: NodeConfig = msgspec.field(default_factory=NodeConfig)
    depends_on: DependsOn = msgspec.field(default_factory=DependsOn)


class ManifestMetadata(msgspec.Struct):
    dbt_schema_version: str = ""
    dbt_version: str = ""
    project_name: str | None = None
    generated_at: str | None = None
    invocation_id: str | None = None


class Manifest(msgspec.Struct):
    metadata: ManifestMetadata
    nodes: dict[str, Node] = msgspec.field(default_factory=dict)


class RunResult(msgspec.Struct):
    unique_id: str
    status: str
    message: str | None = None
    execution_time: float = 0.0


class RunResultsMetadata(msgspec.Struct):
    dbt_version: str = ""
    generated_at: str | None = None
    invocation_id: str | None = None


class RunResults(msgspec.Struct):
    metadata: RunResultsMetadata
    results: list[RunResult] = msgspec.field(default_factory=list)
    elapsed_time: float = 0.0
    args: dict[str, Any] = msgspec.field(default_factory=dict)

    def failures(self) -> list[RunResult]:
        return [r for r in self.results if r.status in FAILED_STATUSES]


FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})

_manifest_decoder = msgspec.json.Decoder(Manifest)
_run_results_decoder = msgspec.json.Decoder(RunResults)


def decode_manifest(data: bytes, *, source: str) -> Manifest:
    """Decode a manifest, refusing corrupt files and schema versions we cannot read."""
    manifest = _decode(_manifest_decoder, data, source)
    match = _SCHEMA_VERSION_RE.search(manifest.metadata.dbt_schema_version)
    version = int(match.group(1)) if match else None
    if version not in SUPPORTED_MANIFEST_VERSIONS:
        raise MeshError(
            f"unsupported manifest schema '{manifest.metadata.dbt_schema_version or 'unknown'}' "
            f"(dbt {manifest.metadata.dbt_version or '?'})", file=source,
            hint="meshkit reads manifests of dbt 1.6 to 1.11 (schema v10–v12); "
                 "rebuild the project with a supported dbt-core and publish again")
    return manifest


def decode_run_results(data: bytes, *, source: str) -> RunResults:
    return _decode(_run_results_decoder, data, source)


def _decode(decoder: msgspec.json.Decoder, data: bytes, source: str) -> Any:
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MeshError(f"corrupt or truncated artifact: {exc}", file=source,
                        hint="rebuild the project so dbt writes the artifact again") from None
