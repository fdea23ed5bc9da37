"""Running one claimed job run, and everything that ends a run: finishing, stopping, recovering.

A claimed run is executed by a worker process of its own (`python -m
meshkit.jobs.worker MESH RUN_ID`), leader of its own process group: a timeout or a
cancel stops the worker and every dbt it started, and the worker outlives a scheduler that
stops (a restarted scheduler adopts it). `meshkit scheduler --in-process` runs claimed runs in
threads instead (for tests and embedding: such runs cannot be killed, only abandoned).

A run ends exactly once, whoever records it first: the worker (its outcome), a supervisor
(timeout, cancel), or recovery (the worker died). Recovery asks the run history whether the
run's build had finished: a run whose process died after its build ended is completed with
the build's status, so the runs it triggers are queued, not lost.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from meshkit.config import Mesh, load_mesh
from meshkit.errors import MeshError
from meshkit.jobs.execute import Outcome, RunContext, resolve_runner
from meshkit.jobs.notify import deliver_pending, plan_notifications
from meshkit.jobs.queue import Completion, JobRun, JobStore
from meshkit.orchestrate.processes import process_alive, process_token
from meshkit.status import NodeStatus, RunStatus

Log = Callable[[str], None]
HOST = socket.gethostname()


def log_path(mesh: Mesh, run_id: int) -> Path:
    """Where run `run_id` writes its log: `.meshkit/jobs/logs/<id>.log` in the mesh's state."""
    return mesh.state_dir / "jobs" / "logs" / f"{run_id}.log"


def finish(store: JobStore, mesh: Mesh, run: JobRun, outcome: Outcome,
           log: Log | None = None) -> Completion | None:
    """Record a run's end (with its triggers, retry and notifications), then notify."""
    job = mesh.jobs.get(run.job)
    completion = store.complete(
        run.id, outcome.status, mesh.jobs, message=outcome.message, failure=outcome.failure,
        build_run_id=outcome.build_run_id, summary=outcome.summary,
        notifications=(lambda final: plan_notifications(job, final, mesh.name)) if job else None)
    if completion is not None and completion.notifications:
        deliver_pending(store, run.id, log)
    return completion


# -- the worker ------------------------------------------------------------------------------
def execute(mesh: Mesh, store: JobStore, run_id: int, *, echo: bool = False,
            runner_spec: str | None = None) -> Completion | None:
    """Perform a run this process has claimed (status running) and record how it ended."""
    run = store.run(run_id)
    if run is None or run.status != RunStatus.RUNNING:
        return None
    path = log_path(mesh, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        lock = threading.Lock()

        def log(line: str) -> None:
            from meshkit.dbt.runner import strip_ansi

            with lock:
                handle.write(f"{time.strftime('%H:%M:%S')} {strip_ansi(line)}\n")
                handle.flush()
                if echo:
                    print(line, flush=True)

        job = mesh.jobs.get(run.job)
        log(f"{run.job} run {run.id} (attempt {run.attempt}): {run.reason}")
        if job is None:
            outcome = Outcome(RunStatus.ERROR, f"job '{run.job}' is no longer defined in {mesh.file.name}",
                              "config")
        else:
            try:
                context = RunContext(mesh, job, run, log,
                                     on_build=lambda build_id: store.set_build_run(run.id, build_id))
                outcome = resolve_runner(runner_spec)(context)
            except MeshError as exc:
                log(exc.render())
                outcome = Outcome(RunStatus.ERROR, exc.message, "error")
            except Exception as exc:  # meshkit's own bug: keep the traceback in the run's log
                log(traceback.format_exc())
                outcome = Outcome(RunStatus.ERROR, f"meshkit failed: {type(exc).__name__}: {exc}", "exception")
        log(f"{run.job} run {run.id} ended {outcome.status}"
            + (f": {outcome.message}" if outcome.message else ""))
        return finish(store, mesh, run, outcome, log)


def main(argv: list[str] | None = None) -> int:
    """`python -m meshkit.jobs.worker MESH RUN_ID`: perform one queued run in this process;
    the exit code is 0 when the run succeeded."""
    parser = argparse.ArgumentParser(prog="python -m meshkit.jobs.worker")
    parser.add_argument("mesh")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--echo", action="store_true", help="also print the run's log")
    args = parser.parse_args(argv)
    try:
        mesh = load_mesh(Path(args.mesh))
    except MeshError as exc:
        # The run stays `running`; the scheduler recovers it with the last mesh.yml it could read.
        print(f"cannot start job run {args.run_id}: {exc.render()}", file=sys.stderr)
        return 2
    store = JobStore.for_mesh(mesh)
    try:
        execute(mesh, store, args.run_id, echo=args.echo)
    finally:
        store.close()
    return 0


# -- launching -------------------------------------------------------------------------------
@dataclass
class Handle:
    run_id: int
    pid: int
    process: subprocess.Popen | None = None
    thread: threading.Thread | None = None

    def done(self) -> bool:
        if self.process is not None:
            return self.process.poll() is not None
        return self.thread is None or not self.thread.is_alive()


class SubprocessLauncher:
    """Each run in a worker process, leader of its own process group."""

    isolated = True

    def __init__(self, echo: bool = False) -> None:
        self.echo = echo

    def launch(self, mesh: Mesh, store: JobStore, run: JobRun) -> Handle:
        path = log_path(mesh, run.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "meshkit.jobs.worker", str(mesh.file), str(run.id)]
        if self.echo:
            args.append("--echo")
        with open(path, "ab") as errors:
            process = subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL,
                                       stdout=None if self.echo else subprocess.DEVNULL,
                                       stderr=None if self.echo else errors)
        store.set_worker(run.id, process.pid, process_token(process.pid), isolated=True)
        return Handle(run.id, process.pid, process=process)


class ThreadLauncher:
    """Each run in a thread of this process (no isolation: timeouts and cancels abandon it)."""

    isolated = False

    def launch(self, mesh: Mesh, store: JobStore, run: JobRun) -> Handle:
        def work() -> None:
            own = JobStore(store.path)
            try:
                execute(mesh, own, run.id)
            finally:
                own.close()

        thread = threading.Thread(target=work, name=f"meshkit-job-{run.id}", daemon=True)
        thread.start()
        return Handle(run.id, os.getpid(), thread=thread)


# -- stopping and recovering -----------------------------------------------------------------
def stop(store: JobStore, mesh: Mesh, run: JobRun, outcome: Outcome, log: Log | None = None,
         grace: float = 5.0) -> Completion | None:
    """End a running run from outside (timeout, cancel): record it, then kill its worker."""
    completion = finish(store, mesh, run, outcome, log)
    if completion is not None and run.isolated and run.host == HOST and run.pid is not None \
            and process_alive(run.pid, run.pid_token):
        kill_group(run.pid, grace)
    return completion


def kill_group(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the worker's process group (it and its dbt), SIGKILL what is left after `grace`."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return

    def finish_off() -> None:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    threading.Thread(target=finish_off, name=f"meshkit-kill-{pid}", daemon=True).start()


def orphaned(run: JobRun, own_pids: AbstractSet[int] = frozenset()) -> bool:
    """A running run whose process is gone (judged on this host only)."""
    if run.status != RunStatus.RUNNING or run.host != HOST:
        return False
    if run.pid in own_pids:
        return False
    return not process_alive(run.pid, run.pid_token)


def recover(store: JobStore, mesh: Mesh, run: JobRun, log: Log | None = None) -> Completion | None:
    """End a run whose process died: with its build's status if the build had finished."""
    build = store.build_run(run)
    if build is not None and build["status"] == RunStatus.RUNNING:
        from meshkit.orchestrate.build import open_history

        open_history(mesh).close()          # marks builds of dead processes interrupted
        build = store.build_run(run)
    if run.cancel_requested:
        outcome = Outcome(RunStatus.CANCELED, "canceled; its process had already stopped", "canceled",
                          build["id"] if build is not None else None)
    elif build is not None and build["status"] in (RunStatus.SUCCESS, RunStatus.NOOP, RunStatus.ERROR):
        failed = build["status"] == RunStatus.ERROR
        outcome = Outcome(RunStatus.ERROR if failed else RunStatus.SUCCESS,
                          f"recovered: its process (pid {run.pid}) stopped after build run "
                          f"{build['id']} had ended {build['status']}", "build" if failed else None,
                          build["id"], {"recovered": True, "failed": _failed_from_history(
                              store, mesh, run, build["id"]) if failed else []})
    else:
        where = f" during build run {build['id']}" if build is not None else ""
        outcome = Outcome(RunStatus.INTERRUPTED, f"its process (pid {run.pid}) stopped before the run "
                                         f"finished{where}", "interrupted",
                          build["id"] if build is not None else None, {"recovered": True})
    return finish(store, mesh, run, outcome, log)


def _failed_from_history(store: JobStore, mesh: Mesh, run: JobRun, build_run_id: int) -> list[dict]:
    """The failed models of a build, with their owners from the last published manifests."""
    from meshkit.graph.mesh_graph import load_from_store
    from meshkit.jobs.notify import model_entry
    from meshkit.store.store import Store

    rows = [r for r in store.build_nodes(build_run_id)
            if r["status"] == NodeStatus.ERROR or (r["message"] or "").startswith("test ")]
    try:
        graph = load_from_store(Store(mesh.store_url), run.environment, with_extras=False)
    except MeshError:
        from meshkit.graph.mesh_graph import MeshGraph

        graph = MeshGraph()
    return [model_entry(graph, r["unique_id"], r["status"] if r["status"] == NodeStatus.ERROR else "tests failed",
                        r["message"]) for r in rows]


if __name__ == "__main__":
    sys.exit(main())
