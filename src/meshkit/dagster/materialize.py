"""Materializing mesh assets in Dagster is a `meshkit build` of the selected assets.

One multi-asset holds the whole mesh (`can_subset`): whatever Dagster selects, the step
runs meshkit's planner on it, so the decisions are `meshkit build`'s — state-aware, in waves
across projects, one dbt invocation per project and wave, each project published after it
succeeds, the run recorded in meshkit's history. A run of a mesh.yml job (tagged by
jobs.py) builds with the job's own selection and options, as `meshkit jobs run` does.
"""

from __future__ import annotations

from pathlib import Path

from dagster import AssetsDefinition, Failure, MetadataValue, multi_asset

from meshkit.config import load_mesh
from meshkit.config.jobs import Job
from meshkit.dagster.outcomes import asset_events, failure_summary
from meshkit.dagster.specs import MeshAssets, asset_specs, check_specs
from meshkit.errors import MeshError
from meshkit.orchestrate.build import BuildOptions, build_mesh

JOB_TAG = "meshkit/job"     # run tag: the mesh.yml job a Dagster run stands for
OP_NAME = "meshkit_build"


def mesh_multi_asset(mesh_file: Path, env: str | None, assets: MeshAssets,
                     workers: int) -> AssetsDefinition:
    """The multi-asset of every node in `assets`; materializing it builds the mesh."""

    @multi_asset(name=OP_NAME, specs=asset_specs(assets), check_specs=check_specs(assets),
                 can_subset=True)
    def meshkit_build(context):   # AssetExecutionContext; Dagster refuses string annotations
        mesh = load_mesh(mesh_file)
        job = mesh.jobs.get(context.run.tags.get(JOB_TAG, ""))
        options = build_options(assets, set(context.selected_asset_keys), env, workers, job)
        options.command = f"dagster run {context.run.run_id}" + (f" (job {job.name})" if job else "")
        try:
            report = build_mesh(mesh, options, on_line=lambda project, line:
                                context.log.info(f"{project:>12} │ {line}"))
        except MeshError as exc:
            raise Failure(description=exc.render()) from None
        for warning in report.plan.warnings:
            context.log.warning(warning)
        yield from asset_events(report, assets, set(context.selected_asset_keys),
                                set(context.selected_asset_check_keys))
        failure = failure_summary(report)
        if failure:
            raise Failure(description=failure,
                          metadata={"meshkit/run_id": MetadataValue.int(report.run_id or 0)})
        context.log.info(f"meshkit run {report.run_id}: {report.status}")

    return meshkit_build


def build_options(assets: MeshAssets, selected: set, env: str | None, workers: int,
                  job: Job | None = None) -> BuildOptions:
    """The `meshkit build` options for a Dagster selection: the whole mesh when every asset
    is selected (so a staged build may start before every project is parsed), else the
    selected nodes by unique id. A job's run whose selection is the job's own builds with
    its selectors (state:modified included); its other options apply in any case."""
    everything = len(selected) == len(assets.keys)
    options = BuildOptions(env=env, workers=workers)
    if job is not None:
        options = BuildOptions(env=job.environment, workers=job.workers, full=job.full,
                               full_refresh=job.full_refresh, threads=job.threads,
                               generate_docs=job.generate_docs)
        if selected == job_selection(assets, job):
            options.select, options.exclude = list(job.select), list(job.exclude)
            options.projects = list(job.projects)
            return options
    if not everything:
        options.select = [uid for uid, key in assets.keys.items() if key in selected]
    return options


def job_selection(assets: MeshAssets, job: Job) -> set:
    """The asset keys a job builds. `state:modified` is decided when the job runs, so here
    it stands for every node (the build then reuses what did not change)."""
    from meshkit.graph.selection import Selector

    graph = assets.graph
    selector = Selector(graph, frozenset(graph.nodes))
    select = [f"project:{p}" for p in job.projects] if job.projects else []
    chosen = selector.select(list(job.select) or None, list(job.exclude) or None)
    if select:
        chosen &= selector.select(select)
    return {assets.keys[uid] for uid in chosen if uid in assets.keys}
