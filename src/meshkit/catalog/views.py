"""What each catalog page shows, as plain data (the web layer renders it; the API dumps it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from meshkit.status import NodeStatus


@dataclass
class NodeRef:
    """A link to a resource: enough to name it, badge it and say how far away it is."""

    id: str
    name: str
    label: str                    # project.name (+ " v2" for a version)
    project: str
    resource_type: str
    access: str | None = None
    version: str | None = None
    materialized: str | None = None
    distance: int | None = None
    published: bool = True        # False: referenced, but no loaded project builds it
    status: str | None = None     # its last run result


@dataclass
class ResultView:
    status: str
    execution_time: float = 0.0
    completed_at: str | None = None
    message: str | None = None
    failures: int | None = None
    earlier_run: str | None = None   # the earlier run it is from (the last run did not build it)


@dataclass
class TestView:
    id: str
    name: str
    column: str | None
    kind: str                     # unique, not_null, relationships, … (generic) or the test's name
    severity: str | None = None
    result: ResultView | None = None


@dataclass
class ConstraintView:
    type: str
    columns: list[str] = field(default_factory=list)
    expression: str | None = None
    name: str | None = None


@dataclass
class ColumnRef:
    node: str
    label: str          # analytics.fct_orders.v2
    column: str
    distance: int
    lens: str           # of the step that reaches it: passthrough | rename | transformed
    transform: str | None = None
    via: str = ""       # the column it links to, node.column


@dataclass
class InheritedDescription:
    text: str
    node: str
    label: str
    column: str


@dataclass
class ColumnLineageView:
    node: str
    column: str
    lens: str | None = None
    transform: str | None = None
    unresolved: str | None = None
    detail: str | None = None
    description: str = ""
    inherited: InheritedDescription | None = None
    upstream: list[ColumnRef] = field(default_factory=list)
    downstream: list[ColumnRef] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)   # node.column deciding its rows (joins, filters)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ColumnView:
    name: str
    data_type: str | None
    type_source: str | None       # "catalog" (warehouse), "contract" (manifest) or None
    description: str = ""
    tests: list[TestView] = field(default_factory=list)
    constraints: list[ConstraintView] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    lineage: ColumnLineageView | None = None   # from the published column lineage


@dataclass
class VersionView:
    version: str
    id: str
    is_latest: bool
    state: str                    # latest | old | prerelease
    deprecation_date: str | None
    deprecated: bool              # the deprecation date is in the past
    current: bool = False         # the version this page is about


@dataclass
class OwnerView:
    group: str | None
    name: str | None = None
    email: str | None = None
    description: str | None = None


@dataclass
class SourceFreshnessView:
    source: NodeRef
    status: str | None
    max_loaded_at: str | None = None
    snapshotted_at: str | None = None
    age_seconds: float | None = None
    warn_after: str | None = None
    error_after: str | None = None


@dataclass
class FreshnessView:
    build_after: str | None = None            # the model's config.freshness.build_after
    last_built_at: str | None = None
    sources: list[SourceFreshnessView] = field(default_factory=list)

    @property
    def worst(self) -> str | None:
        order: dict[str, int] = {NodeStatus.ERROR: 3, NodeStatus.RUNTIME_ERROR: 3,
                                 NodeStatus.WARN: 2, NodeStatus.PASS: 1}
        statuses = [s.status for s in self.sources if s.status]
        return max(statuses, key=lambda s: order.get(s, 0)) if statuses else None


@dataclass
class RelatedSummary:
    """Upstream or downstream of a node, across every project: counts and the nearest few."""

    total: int
    by_project: dict[str, int]
    nearest: list[NodeRef]


@dataclass
class RunView:
    run_id: str
    environment: str
    status: str
    completed_at: str
    published_at: str
    dbt_version: str
    git_sha: str | None
    counts: dict[str, int]
    failures: list[NodeRef]
    elapsed: float = 0.0


@dataclass
class NodeView:
    id: str
    name: str
    label: str
    project: str
    resource_type: str
    package: str
    description: str
    original_file_path: str
    relation_name: str | None
    access: str | None
    materialized: str | None
    owner: OwnerView | None
    contract_enforced: bool
    tags: list[str]
    meta: dict[str, Any]
    version: str | None
    latest_version: str | None
    deprecation_date: str | None
    deprecated: bool
    versions: list[VersionView]
    columns: list[ColumnView]
    constraints: list[ConstraintView]
    language: str | None
    raw_code: str
    compiled_code: str | None
    upstream: RelatedSummary
    downstream: RelatedSummary
    used_by: list[str]                         # other projects downstream of this node
    result: ResultView | None
    tests: list[TestView]
    freshness: FreshnessView | None
    run: RunView | None
    extra: dict[str, Any] = field(default_factory=dict)  # source/exposure specifics
    types_note: str | None = None   # why column types are missing, when some are


@dataclass
class GroupView:
    name: str
    owner_name: str | None
    owner_email: str | None
    description: str | None
    models: int


@dataclass
class ProjectLink:
    project: str
    edges: int                   # model-level edges between the two projects
    models: list[NodeRef]        # the models of the producing project that are read


@dataclass
class ProjectView:
    name: str
    environment: str | None
    origin: str
    run: RunView | None
    counts: dict[str, int]
    groups: list[GroupView]
    public_models: list[NodeRef]
    models: list[NodeRef]
    models_total: int
    used_by: list[ProjectLink]
    upstream: list[ProjectLink]
    overview: str | None         # the project's own __overview__ doc block, Markdown


@dataclass
class ProjectSummary:
    name: str
    models: int
    public_models: int
    contracts: int
    sources: int
    failures: int
    status: str | None
    completed_at: str | None
    run_id: str | None


@dataclass
class ProjectEdge:
    source: str
    target: str
    count: int
    bidirectional: bool


@dataclass
class OverviewView:
    mesh: str
    environment: str | None
    version: str
    counts: dict[str, int]
    projects: list[ProjectSummary]
    project_edges: list[ProjectEdge]
    public_models: list[NodeRef]
    public_models_total: int
    failures: list[NodeRef]


@dataclass
class PackageView:
    """An internal package registered in mesh.yml, and the mesh projects that install it."""

    name: str
    path: str                     # relative to mesh.yml
    installed_by: list[str] = field(default_factory=list)
