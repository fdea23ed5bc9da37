"""The dbt plugin: injects upstream projects' public models into a consumer's parse.

dbt imports every top-level `dbt_*` module and instantiates the classes in its `plugins`
list on each invocation; `dbt_meshkit` re-exports this one. It reads each project listed
under `projects:` in the consumer's dependencies.yml from the mesh's artifact store and
hands dbt one `ModelNodeArgs` per public model version. It never patches dbt.

Access is decided from the refs dbt records, not from text: text that looks like a ref to a
non-public model (or to an undeclared mesh project) gets a stand-in node, dbt resolves refs,
and `get_manifest_artifacts` (dbt calls it after parsing, when it writes manifest.json)
refuses only the stand-ins an enabled node really depends on, as dbt's DbtReferenceError.
A mention in a comment, a description or a disabled model is no ref; unused stand-ins are
removed from the manifest dbt runs with and from the manifest.json it wrote.

meshkit's planning parse (MESHKIT_REFUSALS set to a file) does not fail on a refused ref: it
writes the refusals to that file and keeps the stand-ins a node uses, so the orchestrator
can refuse only the refs this run does not make public (meshkit.orchestrate.access). Its
builds pass MESHKIT_PUBLIC_IN_RUN: the models it publishes as public before their readers
build, which get placeholders instead of refusals.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from dbt.contracts.graph.node_args import ModelNodeArgs
from dbt.exceptions import DbtReferenceError
from dbt.node_types import AccessType
from dbt.plugins.manager import dbtPlugin
from dbt.plugins.manifest import PluginNodes
from dbt_common.exceptions import DbtRuntimeError

from meshkit.config.dependencies import declared_projects
from meshkit.config.package_hack import installed_package_names
from meshkit.consumer import (
    ERROR_MARKER,
    REFUSAL_MARKER,
    CrossRef,
    StandIn,
    Upstream,
    ci_relations,
    consumer_environment,
    find_consumer_mesh,
    is_lenient,
    load_upstreams,
    plan_stand_ins,
    public_in_run,
    refusal,
    refusal_record,
    refusals_file,
    scan_cross_refs,
)
from meshkit.dbt.nodes import DEFAULT_ACCESS, parse_time, version_text
from meshkit.errors import MeshError
from meshkit.store.interface import PublicModel
from meshkit.store.store import Store

# Decoded node arguments per (project, run): a long-lived process (dbtRunner) that invokes
# dbt many times converts each published interface once.
_NODE_CACHE: dict[tuple[str, str, str], list[ModelNodeArgs]] = {}
# A fixed time for stand-ins: dbt hashes `generated_at` into an injected node's checksum.
_EPOCH = datetime(2000, 1, 1)


class MeshReferenceError(DbtReferenceError):
    """dbt's error kind for a forbidden ref (tools catching it behave as with dbt's own),
    carrying meshkit's message: file, line, the owning project or group, and the fix."""

    def __init__(self, error: MeshError, unique_id: str, ref_unique_id: str,
                 access: AccessType, scope: str) -> None:
        self.mesh_error = error
        super().__init__(unique_id, ref_unique_id, access, scope)

    def get_message(self) -> str:
        return REFUSAL_MARKER + self.mesh_error.render()


def _reference_hook(func):
    """dbt's `dbt_hook`, except that a refused ref stays a DbtReferenceError and a MeshError
    reads as meshkit's message (dbt_hook turns every exception into a DbtRuntimeError that
    starts with the hook's name). dbt registers any method marked `is_dbt_hook`."""
    @functools.wraps(func)
    def inner(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DbtReferenceError:
            raise
        except MeshError as exc:
            raise DbtRuntimeError(ERROR_MARKER + exc.render()) from exc
        except Exception as exc:
            raise DbtRuntimeError(f"{func.__name__}: {exc}") from exc

    inner.is_dbt_hook = True  # type: ignore[attr-defined]  # the marker dbt looks for on hooks
    return inner


class MeshkitPlugin(dbtPlugin):
    def initialize(self) -> None:
        """Nothing to read here: dbt builds plugins even for `deps` and `debug`."""
        self._refused: list[StandIn] = []
        self._public: dict[str, set[str]] = {}
        self._event_times: dict[str, str] = {}
        self._project_dir: Path | None = None
        self._previous_manifest: tuple[Path, bytes | None, tuple[int, int] | None] | None = None

    @_reference_hook
    def get_nodes(self) -> PluginNodes:
        nodes = PluginNodes()
        self.initialize()
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
        in_pr = ci_relations()
        for upstream in upstreams:
            used = _versions_used(refs, upstream)
            for args, model in zip(_node_args(upstream), upstream.interface.models, strict=True):
                args = _pr_relation(args, in_pr)
                nodes.add_model(_quiet_if_unused(args, used))
                if model.event_time:   # ModelNodeArgs has no config: set after parsing
                    self._event_times[args.unique_id] = model.event_time
        for uid, added in in_pr.items():   # public models the PR added (`meshkit ci`)
            if uid not in nodes.models and added["package_name"] in declared:
                nodes.add_model(_pr_args(added))
        self._project_dir = project_dir
        self._public = {u.project: u.interface.public_names() for u in upstreams}
        # Without dbt's post-parse hook no stand-in could be refused: leave real refs to
        # non-public models unresolved instead, and dbt refuses them as "not found".
        checked = _checked_after_parse()
        installed = installed_package_names(project_dir)

        def in_mesh(name: str) -> bool:
            # A project installed as a package is dbt's to resolve (`meshkit build` refuses that
            # package hack; `meshkit connect` converts it, and must parse it as it is first).
            return name not in installed and (name in mesh.projects or bool(store.environments(name)))

        for stand_in in plan_stand_ins(refs, self.project_name, declared, upstreams, in_mesh,
                                       is_lenient(), packages=installed,
                                       known_projects=set(mesh.projects),
                                       public_soon=public_in_run()):
            if stand_in.unique_id in nodes.models or (stand_in.refused and not checked):
                continue
            nodes.add_model(_stand_in_args(stand_in))
            if stand_in.refused or refusals_file() is not None:
                self._refused.append(stand_in)   # a placeholder: recorded, never refused here
        if self._refused:
            self._previous_manifest = _keep_manifest()
        return nodes

    @_reference_hook
    def get_manifest_artifacts(self, manifest) -> dict:
        """After dbt resolved refs: refuse what really depends on a refused stand-in, else
        drop the stand-ins and rewrite manifest.json (dbt wrote it just before this call)."""
        for uid, event_time in self._event_times.items():
            node = manifest.nodes.get(uid)
            if node is not None and node.is_external_node:
                node.config.event_time = event_time
        record_to = refusals_file()
        if record_to is not None:
            record_to.write_text("[]")
        if not self._refused:
            return {}
        by_id = {s.unique_id: s for s in self._refused}
        uses = _dependents(manifest, set(by_id))
        if record_to is not None:
            records = [refusal_record(by_id[parent], self.project_name, node.unique_id, node.name,
                                      self._reference_error(node, by_id[parent]).mesh_error)
                       for node, parent in uses]
            record_to.write_text(msgspec.json.encode(records).decode())
        elif uses:
            node, parent = uses[0]
            self._restore_manifest()
            raise self._reference_error(node, by_id[parent])
        used = {parent for _, parent in uses} | {s.unique_id for s in self._refused
                                                  if not s.refused}
        for uid in set(by_id) - used:
            manifest.nodes.pop(uid, None)
        manifest.rebuild_ref_lookup()
        if self._previous_manifest is None:
            return {}
        return {str(self._previous_manifest[0]): manifest.writable_manifest()}

    def _reference_error(self, node, stand_in: StandIn) -> MeshReferenceError:
        assert self._project_dir is not None
        error = refusal(replace(stand_in, kind="restricted") if not stand_in.refused else stand_in,
                        node.name, node.original_file_path, self.project_name,
                        self._project_dir, self._public.get(stand_in.project, set()))
        private = stand_in.access == "private"
        return MeshReferenceError(error, node.unique_id, stand_in.unique_id,
                                  AccessType.Private if private else AccessType.Protected,
                                  (stand_in.group or "") if private else stand_in.project)

    def _restore_manifest(self) -> None:
        """A refused parse leaves target/ as dbt leaves it after a failed parse."""
        if self._previous_manifest is not None:
            restore_file(*self._previous_manifest)


def _dependents(manifest, ids: set[str]) -> list[tuple[Any, str]]:
    """(enabled node, stand-in id) for every resource dbt parsed whose refs resolved to one,
    by file. The collections are those dbt's build_parent_and_child_maps links."""
    collections = (manifest.nodes, manifest.exposures, manifest.metrics, manifest.semantic_models,
                   manifest.saved_queries, manifest.functions, manifest.unit_tests)
    found = []
    for collection in collections:
        for node in collection.values():
            config = getattr(node, "config", None)
            if config is not None and getattr(config, "enabled", True) is False:
                continue
            depends_on = getattr(node, "depends_on", None)
            for parent in getattr(depends_on, "nodes", None) or ():
                if parent in ids:
                    found.append((node, parent))
    return sorted(found, key=lambda item: (getattr(item[0], "original_file_path", ""),
                                           item[0].unique_id))


def _checked_after_parse() -> bool:
    """dbt calls `get_manifest_artifacts` only when it writes manifest.json after parsing:
    not with --no-write-json, nor for `docs generate` (dbt/cli/main.py: write=False)."""
    from dbt.flags import get_flags

    flags = get_flags()
    return bool(getattr(flags, "WRITE_JSON", True)) and getattr(flags, "WHICH", None) != "generate"


def _keep_manifest() -> tuple[Path, bytes | None, tuple[int, int] | None] | None:
    """target/manifest.json as it was before this parse (see `keep_file`)."""
    import click

    context = click.get_current_context(silent=True)
    obj = context.obj if context is not None and isinstance(context.obj, dict) else {}
    config = obj.get("runtime_config")
    if config is None:
        return None
    return keep_file(Path(config.project_target_path) / "manifest.json")


def keep_file(path: Path) -> tuple[Path, bytes | None, tuple[int, int] | None]:
    """(path, its bytes, its (atime, mtime) in ns); bytes and times are None when it is absent."""
    try:
        stat = path.stat()
        return path, path.read_bytes(), (stat.st_atime_ns, stat.st_mtime_ns)
    except OSError:
        return path, None, None


def restore_file(path: Path, data: bytes | None, times: tuple[int, int] | None) -> None:
    """Put a file kept by `keep_file` back, modification time included: `meshkit check` and
    `diff` judge a working copy's manifest stale by comparing its mtime with the code's."""
    if data is None:
        path.unlink(missing_ok=True)
        return
    path.write_bytes(data)
    if times is not None:
        os.utime(path, ns=times)


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


def _pr_relation(args: ModelNodeArgs, in_pr: dict[str, dict]) -> ModelNodeArgs:
    """The relation a pull request rebuilt this model into (`meshkit ci`), else production's."""
    model = in_pr.get(args.unique_id)
    if model is None:
        return args
    return replace(args, database=model["database"], schema=model["schema"],
                   identifier=model["identifier"], relation_name=model["relation_name"])


def _pr_args(model: dict) -> ModelNodeArgs:
    return ModelNodeArgs(name=model["name"], package_name=model["package_name"],
                         identifier=model["identifier"], schema=model["schema"],
                         database=model["database"], relation_name=model["relation_name"],
                         version=model.get("version"), latest_version=model.get("latest_version"),
                         access="public")


def _stand_in_args(stand_in: StandIn) -> ModelNodeArgs:
    """A node dbt can resolve a ref to, whose relation never exists (a mistake fails loudly
    instead of reading stale data); one per version, so two never share a relation name."""
    schema = "meshkit_unpublished" if stand_in.kind == "unpublished" else "meshkit_refused"
    return ModelNodeArgs(name=stand_in.model, package_name=stand_in.project,
                         identifier=stand_in.identifier, schema=schema, version=stand_in.version,
                         latest_version=stand_in.latest_version,
                         relation_name=f'"{schema}"."{stand_in.identifier}"',
                         access="public" if stand_in.kind == "unpublished" else DEFAULT_ACCESS,
                         generated_at=_EPOCH)


def _model_args(project: str, model: PublicModel) -> ModelNodeArgs:
    return ModelNodeArgs(
        name=model.name, package_name=project, identifier=model.identifier,
        schema=model.schema_, database=model.database, relation_name=model.relation_name,
        version=model.version, latest_version=model.latest_version,
        # aware, as dbt compares it with an aware now() (ModelNode.is_past_deprecation_date)
        deprecation_date=parse_time(model.deprecation_date), access="public",
        depends_on_nodes=list(model.depends_on), generated_at=_content_time(model))


def _content_time(model: PublicModel) -> datetime:
    """`generated_at`, which dbt only hashes into the injected node's checksum
    (ModelNode.from_args): derived from what was published, so a consumer's
    `state:modified` sees an upstream model change when it did, not on every invocation."""
    digest = hashlib.sha256(msgspec.json.encode(model)).digest()
    return _EPOCH + timedelta(seconds=int.from_bytes(digest[:4], "big"))


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
