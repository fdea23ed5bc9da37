"""A run published by `meshkit publish` counts as a build for state-aware runs.

A mesh project built by plain `dbt build` and published by hand is as built as if
`meshkit build` had run it: its models are recorded in run history (a run of kind
"publish") with the fingerprints of the published manifest, so the next `meshkit build`
reuses them instead of rebuilding them as "never built". A run published after `dbt parse`
built nothing and records nothing.
"""

from __future__ import annotations

from meshkit.config import Mesh
from meshkit.dbt.artifacts import FAILED_STATUSES, decode_manifest, decode_run_results
from meshkit.dbt.nodes import parse_time
from meshkit.orchestrate.db import mesh_db
from meshkit.orchestrate.fingerprint import node_fingerprints
from meshkit.orchestrate.history import History, ModelState
from meshkit.orchestrate.reasons import Kind, Reason
from meshkit.status import NodeStatus, RunStatus
from meshkit.store.records import RunRecord
from meshkit.store.store import Store

_BUILT = ("model", "seed", "snapshot")


def record_publish(mesh: Mesh, store: Store, record: RunRecord, command: str) -> int | None:
    """Record the nodes a published run built as built in its environment; returns the
    history run id, or None when there is nothing to record (not a project of this mesh in
    that environment, or a run without run results)."""
    project = mesh.projects.get(record.project)
    if project is None or record.environment not in project.environments \
            or "run_results.json" not in record.files:
        return None
    manifest_bytes = store.read(record, "manifest.json")
    manifest = decode_manifest(manifest_bytes, source=record.run_id)
    results = decode_run_results(store.read(record, "run_results.json"), source=record.run_id)
    fingerprints = node_fingerprints(manifest_bytes)
    status = {r.unique_id: r.status for r in results.results}
    failed_tests: set[str] = set()
    for uid, result in status.items():
        node = manifest.nodes.get(uid)
        if node is not None and node.resource_type == "test" and result in FAILED_STATUSES:
            failed_tests.update(node.depends_on.nodes)
    built_at = _epoch(record.completed_at)
    history = History(mesh_db(mesh))
    try:
        run_id = history.start_run(record.environment, command, kind="publish")
        states: list[ModelState] = []
        rows: list[tuple[str, str, str, str, str | None, str | None]] = []
        for uid, result in status.items():
            node = manifest.nodes.get(uid)
            if node is None or node.resource_type not in _BUILT or node.package_name != record.project:
                continue
            ok = result == NodeStatus.SUCCESS
            states.append(ModelState(uid, record.project, fingerprints.get(uid, ""), built_at, run_id,
                                     NodeStatus.SUCCESS if ok else NodeStatus.ERROR,
                                     tests_passed=uid not in failed_tests, sources_seen={}))
            kind, details = Reason(Kind.BUILT_OUTSIDE, {"published_run": record.run_id}).to_stored()
            rows.append((uid, record.project, "rebuild", kind, details,
                         NodeStatus.SUCCESS if ok else NodeStatus.ERROR))
        history.record_decisions(run_id, rows)
        history.save_model_states(record.environment, states)
        history.finish_run(run_id, RunStatus.SUCCESS, {"nodes": {NodeStatus.SUCCESS: len(rows)}, "units": 0,
                                               "waves": 0, "published": record.run_id})
        return run_id
    finally:
        history.close()


def _epoch(iso: str) -> float:
    moment = parse_time(iso)
    if moment is None:
        raise ValueError(f"not an ISO time: {iso!r}")
    return moment.timestamp()
