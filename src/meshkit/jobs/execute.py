"""What a job run does, step by step, like a dbt Cloud deploy job.

1. `source_freshness`: `dbt source freshness` in each project the job builds. A failure is
   recorded and the job goes on, unless the job says `source_freshness: {fail_job: true}`
   (then the build does not run and the job fails).
2. The build: `meshkit build` of the job's selection (state-aware; each project published to
   the store after it succeeds). Any failed model fails the job.
3. `generate_docs`: `dbt docs generate` for every project the run publishes, so its
   catalog.json is published with the run. A failure here does not fail the job.

The runner is replaceable, for tests and for embedding meshkit: set MESHKIT_JOB_RUNNER to
`package.module:function`, a function `(RunContext) -> Outcome` (it may call `perform`).
"""

from __future__ import annotations

import importlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from meshkit.config import Mesh
from meshkit.config.jobs import Job
from meshkit.errors import MeshError
from meshkit.jobs.queue import JobRun
from meshkit.status import NodeStatus, RunStatus

RUNNER_ENV_VAR = "MESHKIT_JOB_RUNNER"


@dataclass
class RunContext:
    mesh: Mesh
    job: Job
    run: JobRun
    log: Callable[[str], None] = lambda line: None      # one line of the run's log
    # told the id of the build run (runs.id) as soon as the build starts, so a run whose
    # process dies mid-build is still linked to its build
    on_build: Callable[[int], None] = lambda build_run_id: None


@dataclass
class Outcome:
    status: str                                  # a RunStatus: how the run ended
    message: str | None = None
    failure: str | None = None                   # freshness | build | …
    build_run_id: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)


Runner = Callable[[RunContext], Outcome]


def resolve_runner(spec: str | None = None) -> Runner:
    """The function that performs a run: MESHKIT_JOB_RUNNER, else `perform`."""
    spec = spec if spec is not None else os.environ.get(RUNNER_ENV_VAR)
    if not spec:
        return perform
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name or "run")
    except (ImportError, AttributeError) as exc:
        raise MeshError(f"{RUNNER_ENV_VAR}={spec}: cannot load the job runner ({exc})",
                        hint="give package.module:function, importable by the scheduler") from None


def perform(ctx: RunContext) -> Outcome:
    """Run a job's steps (source freshness, the build, docs) and say how it went; each step's
    result is kept in the outcome's summary."""
    job, mesh = ctx.job, ctx.mesh
    env = mesh.environment(job.environment)
    steps: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"steps": steps}
    if job.source_freshness:
        failed = _freshness(ctx, env, steps)
        if failed and job.freshness_fails_job:
            return Outcome(RunStatus.ERROR, f"source freshness failed in {', '.join(failed)}", "freshness",
                           summary=summary)
    from meshkit.orchestrate.build import BuildOptions, build_mesh

    docs = _DocsStep(ctx, env, steps) if job.generate_docs else None
    options = BuildOptions(env=job.environment, select=list(job.select), exclude=list(job.exclude),
                           projects=list(job.projects), full=job.full, full_refresh=job.full_refresh,
                           workers=job.workers, threads=job.threads, kind="job",
                           command=ctx.run.build_command, before_publish=docs, on_wait=ctx.log,
                           on_start=ctx.on_build)
    started, position = time.time(), len(steps)
    try:
        report = build_mesh(mesh, options, on_line=partial(_prefixed, ctx.log))
    except MeshError as exc:
        steps.insert(position, {"step": "build", "status": RunStatus.ERROR, "message": exc.render(),
                                "seconds": round(time.time() - started, 2)})
        ctx.log(f"build failed: {exc.render()}")
        return Outcome(RunStatus.ERROR, exc.message, "build", summary=summary)
    summary.update(build_summary(report))
    # The docs steps ran during the build, as each project was published: the build comes first.
    steps.insert(position, {"step": "build", "status": report.status, "run_id": report.run_id,
                            "seconds": round(time.time() - started, 2),
                            "published": summary["published"]})
    if report.status == RunStatus.ERROR:
        failed = summary["failed"]
        names = ", ".join(m["node"] for m in failed[:5]) + (" …" if len(failed) > 5 else "")
        message = (f"{len(failed)} model{'s' if len(failed) != 1 else ''} failed: {names}" if failed
                   else "the build failed (see the run's log)")
        return Outcome(RunStatus.ERROR, message, "build", report.run_id, summary)
    note = "nothing to do: every model is up to date" if report.status == RunStatus.NOOP else None
    return Outcome(RunStatus.SUCCESS, note, None, report.run_id, summary)


def build_summary(report) -> dict[str, Any]:
    """Counts, failed models and rebuilt models (with their owners) of a BuildReport."""
    from meshkit.jobs.notify import model_entry

    graph = report.plan.graph
    executor = report.executor
    failed_roots = executor.failed_roots if executor else {}
    counts: dict[str, int] = {}
    failed, built = [], []
    for uid in report.plan.selected:
        status = report.node_status(uid)
        counts[status] = counts.get(status, 0) + 1
        outcome = executor.outcomes.get(uid) if executor else None
        if uid in failed_roots and outcome is not None:
            shown = outcome.status if outcome.status != NodeStatus.SUCCESS else "tests failed"
            failed.append(model_entry(graph, uid, shown, outcome.message))
        elif outcome is not None and outcome.status == NodeStatus.SUCCESS:
            built.append(model_entry(graph, uid, NodeStatus.SUCCESS, None))
    published = sorted({u.unit.project for u in report.units if u.published})
    return {"nodes": counts, "failed": failed, "built": built, "published": published}


def job_projects(mesh: Mesh, job: Job) -> list[str]:
    """The projects a job builds: its `project(s)`, else those its selection reaches in the
    last published mesh, else every project of its environment."""
    in_env = [p for p in mesh.projects if job.environment in mesh.projects[p].environments]
    if job.projects:
        return list(job.projects)
    if not job.select:
        return in_env
    from meshkit.graph.mesh_graph import load_from_store
    from meshkit.graph.selection import Selector
    from meshkit.store.store import Store

    try:
        graph = load_from_store(Store(mesh.store_url), job.environment, in_env, with_extras=False)
        chosen = Selector(graph).select(list(job.select), list(job.exclude) or None)
    except MeshError:
        return in_env
    unpublished = [p for p in in_env if p not in graph.projects]
    return sorted({graph.owner[uid] for uid in chosen} | set(unpublished))


def _prefixed(log: Callable[[str], None], project: str, line: str) -> None:
    """One line of a project's dbt output in the run's log, after the project's name."""
    log(f"{project:>12} │ {line}")


def _freshness(ctx: RunContext, env, steps: list[dict]) -> list[str]:
    from meshkit.dbt.runner import run_dbt
    from meshkit.orchestrate.parse import dbt_environment

    failed = []
    for name in job_projects(ctx.mesh, ctx.job):
        args = ["source", "freshness", "--target", env.target]
        if ctx.job.threads:
            args += ["--threads", str(ctx.job.threads)]
        result = run_dbt(args, ctx.mesh.project(name).path, dbt_environment(ctx.mesh, env),
                         partial(_prefixed, ctx.log, name))
        status = RunStatus.SUCCESS if result.ok else RunStatus.ERROR
        steps.append({"step": "source freshness", "project": name, "status": status,
                      "seconds": round(result.seconds, 2)})
        if not result.ok:
            failed.append(name)
            ctx.log(f"source freshness failed in {name}"
                    + ("" if ctx.job.freshness_fails_job else "; the job goes on (fail_job is off)"))
    return failed


class _DocsStep:
    """Before a project's run is published: `dbt docs generate`, so catalog.json goes with it."""

    def __init__(self, ctx: RunContext, env, steps: list[dict]) -> None:
        self.ctx, self.env, self.steps = ctx, env, steps

    def __call__(self, project: str, target_dir: Path) -> None:
        from meshkit.dbt.runner import run_dbt, strip_ansi
        from meshkit.orchestrate.parse import dbt_environment

        # A side folder: the build's manifest.json and run_results.json stay as they are.
        side = target_dir / "meshkit_docs"
        args = ["docs", "generate", "--no-compile", "--target", self.env.target,
                "--target-path", str(side)]
        result = run_dbt(args, self.ctx.mesh.project(project).path,
                         dbt_environment(self.ctx.mesh, self.env),
                         lambda line: self.ctx.log(f"{project:>12} │ {line}"))
        catalog = side / "catalog.json"
        if result.ok and catalog.is_file():
            shutil.copyfile(catalog, target_dir / "catalog.json")   # newer than the manifest
            self.steps.append({"step": "generate docs", "project": project, "status": RunStatus.SUCCESS,
                               "seconds": round(result.seconds, 2)})
            return
        tail = [line for line in strip_ansi(result.output).splitlines() if line.strip()][-3:]
        self.steps.append({"step": "generate docs", "project": project, "status": RunStatus.ERROR,
                           "seconds": round(result.seconds, 2), "message": " ".join(tail)[:500]})
        self.ctx.log(f"generate docs failed in {project}; the run is published without a catalog")
