"""The dbt plugin: injects upstream projects' public models into a consumer's parse.

dbt imports every top-level `dbt_*` module and instantiates the classes in its `plugins`
list on each invocation; `dbt_meshkit` re-exports this one. It reads each project listed
under `projects:` in the consumer's dependencies.yml from the mesh's artifact store and
hands dbt one `ModelNodeArgs` per public model version. It never patches dbt: access is
enforced by injecting public models only and refusing non-public refs with a clear message.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from dbt.contracts.graph.node_args import ModelNodeArgs
from dbt.plugins.manager import dbtPlugin, dbt_hook
from dbt.plugins.manifest import PluginNodes

from meshkit.config.dependencies import declared_projects
from meshkit.consumer import (CrossRef, Upstream, check_cross_refs, consumer_environment,
                              find_consumer_mesh, is_lenient, load_upstreams, scan_cross_refs,
                              unresolved_refs)
from meshkit.store.interface import PublicModel, version_text
from meshkit.store.store import Store

# Decoded node arguments per (project, run): a long-lived process (dbtRunner) that invokes
# dbt many times converts each published interface once.
_NODE_CACHE: dict[tuple[str, str, str], list[ModelNodeArgs]] = {}


class MeshkitPlugin(dbtPlugin):
    def initialize(self) -> None:
        """Nothing here: dbt builds plugins even for `deps` and `debug`."""

    @dbt_hook
    def get_nodes(self) -> PluginNodes:
        nodes = PluginNodes()
        project_dir, target = _invocation_context()
        mesh = find_consumer_mesh(project_dir)
        if mesh is None:
            return nodes
        declared = declared_projects(project_dir)
        store = Store(mesh.store_url)
        env = consumer_environment(mesh, target)
        upstreams = load_upstreams(mesh, store, self.project_name, env, declared,
                                   project_dir / "dependencies.yml")
        refs = scan_cross_refs(project_dir)
        check_cross_refs(refs, self.project_name, declared, upstreams, mesh, store, project_dir)
        for upstream in upstreams:
            used = _versions_used(refs, upstream)
            for args in _node_args(upstream):
                nodes.add_model(_quiet_if_unused(args, used))
        if is_lenient():
            for ref in unresolved_refs(refs, declared, upstreams):
                placeholder = _placeholder(ref)
                if placeholder.unique_id not in nodes.models:
                    nodes.add_model(placeholder)
        return nodes


def _node_args(upstream: Upstream) -> list[ModelNodeArgs]:
    key = (upstream.project, upstream.environment, upstream.run_id)
    if key not in _NODE_CACHE:
        _NODE_CACHE[key] = [_model_args(upstream.project, m) for m in upstream.interface.models]
    return _NODE_CACHE[key]


def _versions_used(refs: list[CrossRef], upstream: Upstream) -> set[tuple[str, str | None]]:
    latest = {m.name: m.latest_version for m in upstream.interface.models}
    return {(r.model, version_text(r.version) or latest.get(r.model))
            for r in refs if r.project == upstream.project}


def _quiet_if_unused(args: ModelNodeArgs, used: set[tuple[str, str | None]]) -> ModelNodeArgs:
    """Keep a deprecation date only on versions the consumer refs.

    dbt warns "has passed its deprecation date ... should be disabled or removed" for every
    deprecated node in a manifest; in a consumer that never refs it, that is noise aimed at
    the producer. A ref to a deprecated version still gets dbt's DeprecatedReference warning.
    """
    if args.deprecation_date is None or (args.name, args.version) in used:
        return args
    return replace(args, deprecation_date=None)


def _placeholder(ref: CrossRef) -> ModelNodeArgs:
    """Stands in for a model its project has not published yet, so the consumer parses.

    Only meshkit's orchestrator allows this; its plan builds the real model first, and a
    relation named like this one never exists, so a mistake fails loudly instead of reading
    stale data.
    """
    return ModelNodeArgs(name=ref.model, package_name=ref.project, identifier=ref.model,
                         schema="meshkit_unpublished", version=version_text(ref.version),
                         relation_name=f'"meshkit_unpublished"."{ref.project}__{ref.model}"',
                         access="public")


def _model_args(project: str, model: PublicModel) -> ModelNodeArgs:
    return ModelNodeArgs(
        name=model.name, package_name=project, identifier=model.identifier,
        schema=model.schema_, database=model.database, relation_name=model.relation_name,
        version=model.version, latest_version=model.latest_version,
        deprecation_date=_as_datetime(model.deprecation_date), access="public",
        depends_on_nodes=list(model.depends_on))


def _as_datetime(value: str | None) -> datetime | None:
    """dbt compares deprecation dates with an aware `now()`; it must be an aware datetime."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _invocation_context() -> tuple[Path, str | None]:
    """The consumer's project folder and dbt target of the running invocation."""
    import click
    from dbt.flags import get_flags

    flags = get_flags()
    project_dir = Path(getattr(flags, "PROJECT_DIR", None) or Path.cwd())
    target = getattr(flags, "TARGET", None)
    context = click.get_current_context(silent=True)
    obj = context.obj if context is not None and isinstance(context.obj, dict) else {}
    if obj.get("project") is not None:
        project_dir = Path(obj["project"].project_root)
    if obj.get("profile") is not None:
        target = obj["profile"].target_name or target
    return project_dir.resolve(), target
