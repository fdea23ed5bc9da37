"""Run a plan: dbt invocations in dependency order, in parallel where nothing collides.

A unit starts when the units it depends on are done and no running unit writes a file it
reads or writes. A failed node (or a node whose tests failed, or one dbt skipped because a
unit test or another test failed) skips exactly its downstream, in every project; each skip
names the failure that caused it. A project is published after
each unit whose run had no failures.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from meshkit.config import Environment, Mesh
from meshkit.config.dbt_vars import DbtVars
from meshkit.dbt.artifacts import FAILED_STATUSES, RunResults, decode_run_results
from meshkit.dbt.runner import DbtResult, run_dbt, stop_all, strip_ansi
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.orchestrate.history import UNPUBLISHED, History, ModelState
from meshkit.orchestrate.parse import save_parse
from meshkit.orchestrate.plan import Plan, Unit
from meshkit.orchestrate.resources import Resources, prepare, project_resources
from meshkit.orchestrate.selectors import node_selector, unit_selectors
from meshkit.orchestrate.staged import StagedPlanner, Task
from meshkit.orchestrate.state import label
from meshkit.status import NodeStatus
from meshkit.store.publish import pointer_warning, publish_artifacts
from meshkit.store.store import Store


@dataclass
class ExecutionOptions:
    workers: int = 1
    full_refresh: bool = False
    dbt_env: dict[str, str] = field(default_factory=dict)
    target: str = "prod"
    generate_docs: bool = False      # dbt Cloud's "Generate docs on run": publish catalog.json too
    threads: int | None = None
    dbt_vars: DbtVars = field(default_factory=DbtVars)   # --vars, for build and docs generate
    # Called with (project, target dir) after a unit succeeded, before it is published
    # (jobs with generate_docs add catalog.json there).
    before_publish: Callable[[str, Path], None] | None = None
    # (project) → the parse key its dbt invocations resolve against now; a successful build's
    # manifest then becomes the project's cached parse (see parse.save_parse).
    parse_key: Callable[[str], str] | None = None
    environment: Environment | None = None


# dbt's line for a finished model, seed or snapshot (its text log; tests say PASS/FAIL).
_NODE_RESULT = re.compile(r"\b\d+ of \d+ (?P<result>OK|ERROR) (created|creating|loaded|loading|"
                          r"snapshotted|snapshotting)\b")


@dataclass(frozen=True)
class BuildEvent:
    """A step of a build, as plain data for a progress display (the command line renders it).

    kind: "task" (a project parsed or its source freshness read, before it is planned),
    "unit_start" (a `dbt build` starts: `nodes` to build), "node_end" (dbt finished one of
    them: `succeeded` or `failed` is 1), "unit_end" (the invocation ended: counts of its
    nodes, a node whose tests failed counted failed; `seconds` of dbt; `published` run id or
    `error`).
    """
    kind: str
    project: str
    wave: int = 0                    # 1-based, for unit events
    nodes: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    task: str = ""                   # parse | freshness, for task events
    published: str | None = None
    error: str | None = None


@dataclass
class NodeOutcome:
    status: str                      # success | error | fail | skipped; a test's: dbt's
    seconds: float = 0.0
    message: str | None = None


@dataclass
class UnitOutcome:
    unit: Unit
    ran: list[str]
    returncode: int
    published: str | None = None
    error: str | None = None
    warning: str | None = None
    seconds: float = 0.0             # dbt's wall time


class Executor:
    def __init__(self, mesh: Mesh, store: Store, history: History, run_id: int, plan: Plan,
                 options: ExecutionOptions, fingerprints: dict[str, str],
                 source_loaded_at: dict[str, str],
                 on_line: Callable[[str, str], None] | None = None,
                 on_event: Callable[[BuildEvent], None] | None = None) -> None:
        self.mesh, self.store, self.history, self.run_id = mesh, store, history, run_id
        self.on_event = on_event
        self.plan, self.options = plan, options
        self.fingerprints, self.source_loaded_at = fingerprints, source_loaded_at
        self.on_line = on_line
        self.outcomes: dict[str, NodeOutcome] = {}
        # test or unit test id → dbt's status (pass, fail, warn…)
        self.tests: dict[str, NodeOutcome] = {}
        self.failed_roots: dict[str, str] = {}   # failed node → its own label
        self.units: list[UnitOutcome] = []
        self._built_at: dict[str, float] = {}
        self._resources: dict[str, Resources] = {}
        self.stopped = 0                          # dbt invocations stopped by Ctrl-C

    def failed_unit_tests(self) -> list[tuple[str, NodeOutcome]]:
        """(label, dbt's outcome) of each unit test that failed: its model was skipped, so
        the model's own row does not carry dbt's message."""
        return [(failure_label(self.plan.graph, uid), outcome) for uid, outcome in self.tests.items()
                if uid.startswith("unit_test.") and outcome.status in FAILED_STATUSES]

    # -- scheduling ------------------------------------------------------------------------
    def run(self, planner: "StagedPlanner | None" = None) -> None:
        """Run the plan's units; with a staged planner, also its parses, and the units it
        adds as projects get planned. Ready units go first: they are the critical path."""
        pending = list(self.plan.units)
        done: set[tuple[str, int]] = set()
        running: dict[Future, Unit | Task] = {}
        slots = max(1, self.options.workers)
        pool = ThreadPoolExecutor(max_workers=slots)
        try:
            while pending or running or (planner and planner.busy):
                for unit in list(pending):
                    if len(running) >= slots:
                        break
                    if self.plan.depends[unit.key] <= done and not self._collides(unit.project, running):
                        pending.remove(unit)
                        running[pool.submit(self._run_unit, unit)] = unit
                        self._emit(BuildEvent("unit_start", unit.project, unit.wave + 1,
                                                 len(unit.nodes)))
                while planner and len(running) < slots:
                    task = planner.next_task(lambda project: self._collides(project, running))
                    if task is None:
                        break
                    running[pool.submit(task.run)] = task
                    self._emit(BuildEvent("task", task.project, task=task.kind))
                if not running:
                    raise MeshError("the plan cannot make progress (a dependency was never scheduled)")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    item = running.pop(future)
                    if isinstance(item, Unit):
                        self.units.append(future.result())
                        done.add(item.key)
                        self._emit(self._unit_end(self.units[-1]))
                    else:
                        assert planner is not None      # tasks come from the planner
                        pending += planner.finish(item, future.result())
        except KeyboardInterrupt:
            # Ctrl-C: stop the dbt children now, so the threads waiting on them return.
            self.stopped = stop_all()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _watcher(self, unit: Unit) -> Callable[[str], None] | None:
        """Passes dbt's lines on, and reports each node dbt finishes as it does (dbt's
        "3 of 6 OK created sql table model …" / "ERROR creating" result lines)."""
        if not self.on_line and not self.on_event:
            return None

        def watch(line: str) -> None:
            if self.on_line:
                self.on_line(unit.project, line)
            found = _NODE_RESULT.search(strip_ansi(line))
            if found:
                self._emit(BuildEvent("node_end", unit.project, unit.wave + 1,
                                         failed=int(found["result"] == "ERROR"),
                                         succeeded=int(found["result"] == "OK")))
        return watch

    def _emit(self, event: BuildEvent) -> None:
        if self.on_event:
            self.on_event(event)

    def _unit_end(self, outcome: UnitOutcome) -> BuildEvent:
        """A failed model is one dbt failed, or whose tests failed."""
        counts = {"succeeded": 0, "failed": 0, "skipped": 0}
        for uid in outcome.unit.nodes:
            status = self.outcomes[uid].status if uid in self.outcomes else NodeStatus.SKIPPED
            key = "failed" if status in (NodeStatus.ERROR, NodeStatus.FAIL) or uid in self.failed_roots \
                else ("succeeded" if status == NodeStatus.SUCCESS else "skipped")
            counts[key] += 1
        return BuildEvent("unit_end", outcome.unit.project, outcome.unit.wave + 1,
                          len(outcome.unit.nodes), succeeded=counts["succeeded"],
                          failed=counts["failed"], skipped=counts["skipped"], seconds=outcome.seconds, published=outcome.published,
                          error=outcome.error)

    def _collides(self, project: str, running: dict[Future, Unit | Task]) -> bool:
        """Would a dbt run in `project` open a database file that a running one writes?"""
        mine = self._resources_of(project)
        return any(mine.conflicts(self._resources_of(other.project)) for other in running.values()
                   if isinstance(other, Unit) or other.touches_warehouse)

    def _resources_of(self, project: str) -> Resources:
        if project not in self._resources:
            self._resources[project] = project_resources(self.mesh.project(project), self.options.target)
        return self._resources[project]

    # -- one unit --------------------------------------------------------------------------
    def _run_unit(self, unit: Unit) -> UnitOutcome:
        runnable = []
        for uid in unit.nodes:
            blocker = self._blocking_failure(uid)
            if blocker:
                self.outcomes[uid] = NodeOutcome(NodeStatus.SKIPPED, message=f"skipped because {blocker} failed")
            else:
                runnable.append(uid)
        self._record([uid for uid in unit.nodes if uid not in runnable], None)
        tests = [t for t in unit.tests if not any(self._blocking_failure(p) or p in self.failed_roots
                                                  for p in self.plan.graph.parents.get(t, []))]
        if not runnable and not tests:
            return UnitOutcome(unit, [], 0)
        project = self.mesh.project(unit.project)
        prepare(self._resources_of(unit.project))
        nodes = self.plan.graph.nodes
        args = ["build", "--target", self.options.target,
                "--select", *unit_selectors(self.plan.graph, unit.project, runnable + tests)]
        if unit.excluded:
            args += ["--exclude", *[node_selector(nodes[uid]) for uid in unit.excluded]]
        if self.options.full_refresh:
            args.append("--full-refresh")
        if self.options.threads:
            args += ["--threads", str(self.options.threads)]
        args += self.options.dbt_vars.args
        invocation = self.history.start_invocation(self.run_id, unit.project, unit.wave, args)
        echo = self._watcher(unit)
        started = time.time()
        key = self.options.parse_key(unit.project) if self.options.parse_key else None
        result = run_dbt(args, project.path, self._dbt_env(), echo)
        self.history.finish_invocation(invocation, result.returncode, result.output)
        if result.ok and key and self.options.environment:
            save_parse(self.mesh, self.options.environment, self.history, project, key)
        results = _read_results(project.path / "target" / "run_results.json", started)
        self._absorb(unit, runnable, result, results)
        self.tests.update({r.unique_id: NodeOutcome(r.status, r.execution_time,
                                                    r.message and strip_ansi(r.message))
                           for r in (results.results if results else ())
                           if r.unique_id.startswith(("test.", "unit_test."))})
        failed_by_tests = self._absorb_deferred_tests(tests, runnable, results)
        self._record(runnable + failed_by_tests, invocation)
        outcome = UnitOutcome(unit, runnable, result.returncode, seconds=result.seconds)
        # State says "built" only once the run is in the store: a publish that fails, or a
        # meshkit killed before it, leaves the models to be rebuilt and published next time.
        published = self._publish(unit, result, runnable, outcome, echo)
        self._save_states(unit, runnable, published)
        self._save_states(unit, failed_by_tests, published)
        return outcome

    def _publish(self, unit: Unit, result: DbtResult, runnable: list[str], outcome: UnitOutcome,
                 echo) -> bool:
        """Publish the unit's project after a run without failures; True if it landed."""
        project = self.mesh.project(unit.project)
        if result.ok and not any(self.outcomes[uid].status != NodeStatus.SUCCESS for uid in runnable):
            if self.options.generate_docs:
                # --no-compile keeps this run's manifest and run_results; catalog.json is new.
                docs = run_dbt(["docs", "generate", "--no-compile", "--target", self.options.target,
                                *self.options.dbt_vars.args],
                               project.path, self._dbt_env(), echo)
                if not docs.ok:  # as in dbt Cloud, a docs failure does not fail the build
                    outcome.warning = "`dbt docs generate` failed; published without catalog.json"
            if self.options.before_publish:
                self.options.before_publish(unit.project, project.path / "target")
            try:
                record = publish_artifacts(self.store, project.path / "target", self.plan.environment,
                                           project_dir=project.path, require_build=True)
            except MeshError as exc:
                outcome.error = exc.render()
                return False
            outcome.published = record.run_id
            outcome.warning = pointer_warning(self.store, record) or outcome.warning
            return True
        return False

    def _dbt_env(self) -> dict[str, str]:
        """meshkit's variables, and the models this run publishes public before their readers
        build (a reader's project may build other nodes earlier: those refs get placeholders)."""
        from meshkit.consumer import PUBLIC_IN_RUN_VAR

        if not self.plan.public_in_run:
            return self.options.dbt_env
        return {**self.options.dbt_env, PUBLIC_IN_RUN_VAR: " ".join(sorted(self.plan.public_in_run))}

    def _blocking_failure(self, uid: str) -> str | None:
        for root, name in self.failed_roots.items():
            if uid in self.plan.graph.downstream(root):
                return name
        return None

    def _absorb(self, unit: Unit, runnable: list[str], result: DbtResult,
                results: RunResults | None) -> None:
        graph = self.plan.graph
        by_id = {r.unique_id: r for r in results.results} if results else {}
        for uid in runnable:
            item = by_id.get(uid)
            if item is None and graph.nodes[uid].config.materialized == "ephemeral":
                # dbt leaves ephemeral models out of run_results: nothing to build.
                self.outcomes[uid] = NodeOutcome(NodeStatus.SUCCESS if result.ok else NodeStatus.ERROR,
                                                 message=None if result.ok else _error_excerpt(result.output))
            elif item is None:
                message: str | None = _error_excerpt(result.output) if not result.ok else (
                    "dbt did not build it: it is not in this invocation's run_results.json")
                self.outcomes[uid] = NodeOutcome(NodeStatus.ERROR, message=message)
            else:
                status = NodeStatus.SUCCESS if item.status == NodeStatus.SUCCESS else (
                    NodeStatus.SKIPPED if item.status == NodeStatus.SKIPPED else NodeStatus.ERROR)
                message = None if status == NodeStatus.SUCCESS else item.message
                self.outcomes[uid] = NodeOutcome(status, item.execution_time, message)
            for test in graph.tests_of(uid):
                test_result = by_id.get(test.unique_id)
                if test_result and test_result.status in FAILED_STATUSES:
                    self._fail_by_test(uid, test.name, test_result.status)
            if self.outcomes[uid].status == NodeStatus.ERROR:
                self.failed_roots[uid] = label(graph, uid)
        self._absorb_skips(runnable, results)

    def _absorb_skips(self, runnable: list[str], results: RunResults | None) -> None:
        """Name the failure behind each node dbt skipped. `dbt build` skips a node when
        something before it failed: a parent, a test of severity error on a parent, the node's
        own unit test. A skipped node no known failure explains becomes a failed root under
        that failure's name, so its readers in other projects are skipped too."""
        graph = self.plan.graph
        failures = [r.unique_id for r in results.results if r.status in FAILED_STATUSES] \
            if results else []
        skipped = [uid for uid in runnable if self.outcomes[uid].status == NodeStatus.SKIPPED]
        # Parents first: a node has fewer ancestors than each of its children.
        for uid in sorted(skipped, key=lambda u: len(graph.upstream(u))):
            outcome = self.outcomes[uid]
            blocker = self._blocking_failure(uid)
            if blocker is None:
                blocker = self.failed_roots[uid] = skip_cause(graph, uid, failures)
            outcome.message = outcome.message or f"skipped because {blocker} failed"

    def _absorb_deferred_tests(self, tests: list[str], runnable: list[str],
                               results: RunResults | None) -> list[str]:
        """The models built by earlier units of this project whose deferred tests failed
        (those this unit built are `_absorb`'s)."""
        graph = self.plan.graph
        by_id = {r.unique_id: r for r in results.results} if results else {}
        failed: dict[str, None] = {}
        for tid in tests:
            item = by_id.get(tid)
            if item is None or item.status not in FAILED_STATUSES:
                continue
            for uid in graph.parents.get(tid, []):
                if graph.owner.get(uid) == graph.owner[tid] and uid in self.outcomes \
                        and uid not in runnable:
                    self._fail_by_test(uid, graph.nodes[tid].name, item.status)
                    failed[uid] = None
        return list(failed)

    def _fail_by_test(self, uid: str, test: str, status: str) -> None:
        self.outcomes[uid].message = f"test {test} {status}"
        self.failed_roots[uid] = f"{label(self.plan.graph, uid)} (test {test})"

    def _record(self, uids: list[str], invocation: int | None) -> None:
        rows = [(uid, self.outcomes[uid].status, self.outcomes[uid].seconds, self.outcomes[uid].message)
                for uid in uids]
        if rows:
            self.history.record_results(self.run_id, invocation, rows)

    def _save_states(self, unit: Unit, runnable: list[str], published: bool) -> None:
        graph = self.plan.graph
        now = time.time()
        states = []
        for uid in runnable:
            outcome = self.outcomes[uid]
            if outcome.status == NodeStatus.SKIPPED:
                continue
            # A deferred test that failed re-saves a model built earlier: keep its build time.
            finished = self._built_at.setdefault(uid, now)
            seen = {p: self.source_loaded_at[p] for p in graph.parents.get(uid, [])
                    if p in self.source_loaded_at}
            status = NodeStatus.ERROR if outcome.status != NodeStatus.SUCCESS else (
                NodeStatus.SUCCESS if published else UNPUBLISHED)
            states.append(ModelState(uid, unit.project, self.fingerprints.get(uid, ""), finished,
                                     self.run_id, status,
                                     tests_passed=uid not in self.failed_roots, sources_seen=seen))
        self.history.save_model_states(self.plan.environment, states)


def failure_label(graph: MeshGraph, uid: str) -> str:
    """A failed dbt node in words: "up.a", "up.a (test not_null_a_id)", "up.a's unit test
    a_is_two". A unit test's id is `unit_test.<package>.<model>.<name>` (dbt's
    UnitTestDefinition); the planning graph does not hold unit tests."""
    if uid.startswith("unit_test."):
        _, package, model, name = uid.split(".", 3)
        subjects = _unit_test_subjects(graph, uid)
        return f"{label(graph, subjects[0]) if subjects else f'{package}.{model}'}'s unit test {name}"
    node = graph.nodes.get(uid)
    if node is not None and node.resource_type == "test":
        parents = [p for p in graph.parents.get(uid, []) if p in graph.nodes]
        return f"{label(graph, parents[0])} (test {node.name})" if parents else f"test {node.name}"
    return label(graph, uid) if node is not None else uid


def skip_cause(graph: MeshGraph, uid: str, failures: list[str]) -> str:
    """Why dbt skipped `uid`, in words (`failure_label`): the first of this invocation's
    failed results (unique ids) that is the node, one of its ancestors, a test on one of them
    or a unit test of one of them; "<node> (skipped by dbt)" when none is."""
    before = {uid, *graph.upstream(uid)}
    for failed in failures:
        if failed.startswith("unit_test."):
            subjects = _unit_test_subjects(graph, failed)
        elif failed in graph.nodes and graph.nodes[failed].resource_type == "test":
            subjects = graph.parents.get(failed, [])
        else:
            subjects = [failed]
        if before.intersection(subjects):
            return failure_label(graph, failed)
    return f"{label(graph, uid)} (skipped by dbt)"


def _unit_test_subjects(graph: MeshGraph, unit_test: str) -> list[str]:
    """The models a unit test tests (every version of a versioned model)."""
    _, package, model, _name = unit_test.split(".", 3)
    return sorted(uid for uid, node in graph.nodes.items() if node.resource_type == "model"
                  and node.name == model and node.package_name == package)


def _read_results(path, since: float) -> RunResults | None:
    """This invocation's run_results.json (an older file belongs to another run)."""
    if not path.is_file() or path.stat().st_mtime < since - 1:
        return None
    try:
        return decode_run_results(path.read_bytes(), source=str(path))
    except MeshError:
        return None


def _error_excerpt(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if "Error" in line:
            return " ".join(lines[index:index + 3])[:500]
    return "dbt failed; see the run's log (`meshkit runs show`)"
