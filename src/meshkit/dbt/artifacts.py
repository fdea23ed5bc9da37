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
from meshkit.status import NodeStatus

# Manifest schemas that carry groups, access, versions and contracts (dbt 1.6 – 1.11).
SUPPORTED_MANIFEST_VERSIONS = range(10, 13)
_SCHEMA_VERSION_RE = re.compile(r"/manifest/v(\d+)\.json$")

Version = str | int | float


class Contract(msgspec.Struct):
    enforced: bool = False


class BuildAfter(msgspec.Struct):
    count: int | None = None
    period: str | None = None
    updates_on: str = "any"


class ModelFreshness(msgspec.Struct):
    build_after: BuildAfter | None = None


class NodeConfig(msgspec.Struct):
    materialized: str | None = None
    access: str | None = None
    group: str | None = None
    contract: Contract = msgspec.field(default_factory=Contract)
    enabled: bool = True
    tags: list[str] | str = msgspec.field(default_factory=list)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    freshness: ModelFreshness | None = None
    severity: str | None = None
    grants: dict[str, Any] = msgspec.field(default_factory=dict)
    table_format: str | None = None
    file_format: str | None = None
    event_time: str | None = None      # the column microbatch models and --sample filter on


class DependsOn(msgspec.Struct):
    nodes: list[str] = msgspec.field(default_factory=list)
    macros: list[str] = msgspec.field(default_factory=list)


class RefArgs(msgspec.Struct):
    """One `ref()` call of a node, as written: `ref('analytics', 'fct_orders', v=2)`."""

    name: str
    package: str | None = None
    version: Version | None = None


class Constraint(msgspec.Struct):
    type: str
    name: str | None = None
    expression: str | None = None
    columns: list[str] = msgspec.field(default_factory=list)
    warn_unenforced: bool = True
    warn_unsupported: bool = True


class Column(msgspec.Struct):
    name: str
    description: str = ""
    data_type: str | None = None
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    tags: list[str] = msgspec.field(default_factory=list)
    constraints: list[Constraint] = msgspec.field(default_factory=list)


class FileHash(msgspec.Struct):
    name: str = ""
    checksum: str = ""


class TestMetadata(msgspec.Struct):
    name: str = ""
    namespace: str | None = None
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)


class Node(msgspec.Struct):
    """A model, seed, snapshot, test, analysis or operation of the manifest's `nodes`, or a
    function of its `functions`."""

    unique_id: str
    resource_type: str
    package_name: str
    name: str
    schema_: str | None = msgspec.field(default=None, name="schema")
    database: str | None = None
    alias: str | None = None
    relation_name: str | None = None
    original_file_path: str = ""
    patch_path: str | None = None
    access: str | None = None
    group: str | None = None
    version: Version | None = None
    latest_version: Version | None = None
    deprecation_date: str | None = None
    description: str = ""
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    tags: list[str] = msgspec.field(default_factory=list)
    columns: dict[str, Column] = msgspec.field(default_factory=dict)
    constraints: list[Constraint] = msgspec.field(default_factory=list)
    config: NodeConfig = msgspec.field(default_factory=NodeConfig)
    depends_on: DependsOn = msgspec.field(default_factory=DependsOn)
    refs: list[RefArgs] = msgspec.field(default_factory=list)
    checksum: FileHash = msgspec.field(default_factory=FileHash)
    raw_code: str = ""
    compiled_code: str | None = None
    language: str | None = None
    fqn: list[str] = msgspec.field(default_factory=list)
    # Models only: MetricFlow's time spine settings (`time_spine:` in the model's YAML, dbt 1.9+).
    time_spine: dict[str, Any] | None = None
    # Tests only: what they test.
    attached_node: str | None = None
    column_name: str | None = None
    test_metadata: TestMetadata | None = None


class SourceFreshness(msgspec.Struct):
    warn_after: dict[str, Any] | None = None
    error_after: dict[str, Any] | None = None


class Source(msgspec.Struct):
    unique_id: str
    package_name: str
    name: str
    source_name: str
    resource_type: str = "source"
    schema_: str | None = msgspec.field(default=None, name="schema")
    database: str | None = None
    identifier: str | None = None
    relation_name: str | None = None
    original_file_path: str = ""
    description: str = ""
    source_description: str = ""
    loader: str = ""
    loaded_at_field: str | None = None
    freshness: SourceFreshness | None = None
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    tags: list[str] = msgspec.field(default_factory=list)
    columns: dict[str, Column] = msgspec.field(default_factory=dict)
    fqn: list[str] = msgspec.field(default_factory=list)


class Owner(msgspec.Struct):
    name: str | None = None
    email: str | list[str] | None = None


class Exposure(msgspec.Struct):
    unique_id: str
    package_name: str
    name: str
    resource_type: str = "exposure"
    type: str = ""
    owner: Owner = msgspec.field(default_factory=Owner)
    description: str = ""
    url: str | None = None
    maturity: str | None = None
    label: str | None = None
    depends_on: DependsOn = msgspec.field(default_factory=DependsOn)
    original_file_path: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    fqn: list[str] = msgspec.field(default_factory=list)


class Group(msgspec.Struct):
    unique_id: str
    name: str
    package_name: str
    owner: Owner = msgspec.field(default_factory=Owner)
    description: str | None = None
    original_file_path: str = ""


class Doc(msgspec.Struct):
    unique_id: str
    name: str
    package_name: str
    block_contents: str = ""


class ManifestMetadata(msgspec.Struct):
    dbt_schema_version: str = ""
    dbt_version: str = ""
    project_name: str | None = None
    generated_at: str | None = None
    invocation_id: str | None = None
    adapter_type: str | None = None


class Manifest(msgspec.Struct):
    metadata: ManifestMetadata
    nodes: dict[str, Node] = msgspec.field(default_factory=dict)
    sources: dict[str, Source] = msgspec.field(default_factory=dict)
    exposures: dict[str, Exposure] = msgspec.field(default_factory=dict)
    groups: dict[str, Group] = msgspec.field(default_factory=dict)
    docs: dict[str, Doc] = msgspec.field(default_factory=dict)
    # dbt 1.11 user-defined functions: built by `dbt build` like models, kept apart from nodes.
    functions: dict[str, Node] = msgspec.field(default_factory=dict)


class Macro(msgspec.Struct):
    unique_id: str
    name: str
    package_name: str
    original_file_path: str = ""
    macro_sql: str = ""
    depends_on: DependsOn = msgspec.field(default_factory=DependsOn)


class UnitTest(msgspec.Struct):
    unique_id: str
    name: str
    package_name: str
    model: str = ""
    original_file_path: str = ""
    depends_on: DependsOn = msgspec.field(default_factory=DependsOn)
    fqn: list[str] = msgspec.field(default_factory=list)


class ProjectManifest(Manifest):
    """A project's own manifest with what only splitting it needs.

    Macros (dbt's own several hundred bodies among them), unit tests, disabled nodes, and the
    resources a split refuses to move, undecoded. A decoder of its own, so that reading
    published manifests (the plugin, the store, the graph) does not pay for them."""

    macros: dict[str, Macro] = msgspec.field(default_factory=dict)
    unit_tests: dict[str, UnitTest] = msgspec.field(default_factory=dict)
    disabled: dict[str, list[Node]] = msgspec.field(default_factory=dict)
    semantic_models: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)
    metrics: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)
    saved_queries: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)


class _GroupOwner(msgspec.Struct):
    owner: dict[str, Any] = msgspec.field(default_factory=dict)


class _GroupOwners(msgspec.Struct):
    groups: dict[str, _GroupOwner] = msgspec.field(default_factory=dict)


class Timing(msgspec.Struct):
    name: str
    started_at: str | None = None
    completed_at: str | None = None


class RunResult(msgspec.Struct):
    unique_id: str
    status: str
    message: str | None = None
    execution_time: float = 0.0
    failures: int | None = None
    timing: list[Timing] = msgspec.field(default_factory=list)


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


FAILED_STATUSES = frozenset(s for s in NodeStatus if s.failed)   # error, fail, runtime error


class ArtifactMetadata(msgspec.Struct):
    """The `metadata` every dbt artifact starts with, as far as meshkit reads it leniently."""

    project_name: str | None = None
    invocation_id: str | None = None


class _ArtifactHead(msgspec.Struct):
    metadata: ArtifactMetadata = msgspec.field(default_factory=ArtifactMetadata)


def artifact_metadata(data: bytes) -> ArtifactMetadata | None:
    """Which project and dbt invocation wrote an artifact; None when it is not valid JSON."""
    try:
        return msgspec.json.decode(data, type=_ArtifactHead).metadata
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None

_manifest_decoder = msgspec.json.Decoder(Manifest)
_project_manifest_decoder = msgspec.json.Decoder(ProjectManifest)
_group_owners_decoder = msgspec.json.Decoder(_GroupOwners)
_run_results_decoder = msgspec.json.Decoder(RunResults)


def decode_manifest(data: bytes, *, source: str) -> Manifest:
    """Decode a manifest, refusing corrupt files and schema versions we cannot read."""
    return _supported(_decode(_manifest_decoder, data, source), source,
                      hint="meshkit reads manifests of dbt 1.6 to 1.11 (schema v10–v12); "
                           "rebuild the project with a supported dbt-core and publish again")


def decode_project_manifest(data: bytes, *, source: str) -> ProjectManifest:
    """A project's own manifest as `dbt parse` wrote it, with macros, unit tests and the rest."""
    manifest = _decode(_project_manifest_decoder, data, source,
                       hint="run `dbt parse` in the project again")
    return _supported(manifest, source, hint="parse the project with dbt-core 1.10 or 1.11")


def decode_group_owners(data: bytes, *, source: str) -> dict[str, dict[str, Any]]:
    """Each group's owner with every key it carries, by the group's unique id.

    `Group.owner` reads the name and email; dbt lets an owner carry any key (a `github:`
    handle, say), which only a plain dict keeps."""
    owners = _decode(_group_owners_decoder, data, source, hint="run `dbt parse` in the project again")
    return {unique_id: group.owner for unique_id, group in owners.groups.items()}


def manifest_schema_version(schema_url: str | None) -> int | None:
    """The version in a manifest's `dbt_schema_version` URL (…/manifest/v12.json → 12), or
    None when the text names no manifest schema."""
    match = _SCHEMA_VERSION_RE.search(schema_url or "")
    return int(match.group(1)) if match else None


def _supported(manifest: Any, source: str, *, hint: str) -> Any:
    version = manifest_schema_version(manifest.metadata.dbt_schema_version)
    if version not in SUPPORTED_MANIFEST_VERSIONS:
        raise MeshError(
            f"unsupported manifest schema '{manifest.metadata.dbt_schema_version or 'unknown'}' "
            f"(dbt {manifest.metadata.dbt_version or '?'})", file=source, hint=hint)
    return manifest


def decode_run_results(data: bytes, *, source: str) -> RunResults:
    """run_results.json as dbt writes it; MeshError naming `source` when corrupt."""
    return _decode(_run_results_decoder, data, source)


def _decode(decoder: msgspec.json.Decoder, data: bytes, source: str, *,
            hint: str = "rebuild the project so dbt writes the artifact again") -> Any:
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MeshError(f"corrupt or truncated artifact: {exc}", file=source, hint=hint) from None


class CatalogColumn(msgspec.Struct):
    name: str
    type: str
    index: int = 0
    comment: str | None = None


class CatalogTable(msgspec.Struct):
    type: str | None = None
    schema_: str | None = msgspec.field(default=None, name="schema")
    name: str = ""
    database: str | None = None
    comment: str | None = None
    owner: str | None = None


class CatalogEntry(msgspec.Struct):
    metadata: CatalogTable
    columns: dict[str, CatalogColumn] = msgspec.field(default_factory=dict)
    unique_id: str | None = None


class Catalog(msgspec.Struct):
    """catalog.json: column types as the warehouse reports them (`dbt docs generate`)."""

    nodes: dict[str, CatalogEntry] = msgspec.field(default_factory=dict)
    sources: dict[str, CatalogEntry] = msgspec.field(default_factory=dict)


class FreshnessResult(msgspec.Struct):
    unique_id: str
    status: str
    max_loaded_at: str | None = None
    snapshotted_at: str | None = None
    max_loaded_at_time_ago_in_s: float | None = None


class SourceFreshnessResults(msgspec.Struct):
    """sources.json: the outcome of `dbt source freshness`."""

    results: list[FreshnessResult] = msgspec.field(default_factory=list)


_catalog_decoder = msgspec.json.Decoder(Catalog)
_freshness_decoder = msgspec.json.Decoder(SourceFreshnessResults)


def decode_catalog(data: bytes, *, source: str) -> Catalog:
    """catalog.json (`dbt docs generate`); MeshError naming `source` when corrupt."""
    return _decode(_catalog_decoder, data, source)


def decode_source_freshness(data: bytes, *, source: str) -> SourceFreshnessResults:
    """sources.json (`dbt source freshness`); MeshError naming `source` when corrupt."""
    return _decode(_freshness_decoder, data, source)
