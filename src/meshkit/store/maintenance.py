"""Keeping an artifact store healthy: verify a run, repair a pointer, prune old runs.

Upkeep, apart from what publishers and readers do (store.py): an operator runs these through
`meshkit store repair | prune`; each works through the `Store` API and its backend's
primitives, on any backend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from meshkit.dbt.artifacts import artifact_metadata
from meshkit.errors import MeshError
from meshkit.store.records import RunRecord, required_files
from meshkit.store.store import Store

# Run folders without a record younger than this may still be being written: prune leaves them.
INCOMPLETE_GRACE_SECONDS = 3600


@dataclass
class PruneResult:
    project: str
    environment: str
    kept: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)   # half-written leftovers removed


@dataclass
class RepairResult:
    project: str
    environment: str
    before: str | None = None        # the run `latest` named
    after: str | None = None         # the run it names now (None: no intact run, pointer removed)
    damaged: dict[str, list[str]] = field(default_factory=dict)  # run id → its problems


def verify(store: Store, record: RunRecord) -> list[str]:
    """Problems with a run's files (missing, corrupt, or run results from another dbt
    invocation than its manifest), as sentences; empty when the run is whole and of one
    invocation."""
    problems = [f"the record lists no {name}" for name in required_files(record.status)
                if name not in record.files]
    read: dict[str, bytes] = {}
    for name in record.files:
        try:
            read[name] = store.read(record, name)
        except MeshError as exc:
            problems.append(exc.message)
    if "manifest.json" in read and "run_results.json" in read:
        ids = (_invocation_id(read["manifest.json"]), _invocation_id(read["run_results.json"]))
        if None not in ids and ids[0] != ids[1]:
            problems.append(f"run {record.run_id} of project '{record.project}' pairs a "
                            f"manifest (dbt invocation {ids[0]}) with the run results of "
                            f"another invocation ({ids[1]}): it claims builds its manifest "
                            "does not describe")
    return problems


def repair(store: Store, project: str, env: str) -> RepairResult:
    """Point `latest` at the newest complete run whose files all verify.

    Runs that fail verification lose their record (they become incomplete, and `prune`
    removes them later), so no publisher settles on them again. With no intact run left,
    the pointer is removed: the project counts as never published in this environment.
    """
    result = RepairResult(project, env)
    with store.backend.lock(store.env_dir(project, env)):
        before = store.pointer(project, env, strict=False)
        result.before = before.run_id if before else None
        for record in reversed(store.runs(project, env)):
            problems = verify(store, record)
            if not problems:
                result.after = record.run_id
                break
            result.damaged[record.run_id] = problems
            store.delete_record(record)
        if result.after is None:
            store.write_pointer(project, env, None)
        elif result.after != result.before or _corrupt_pointer(store, project, env):
            store.write_pointer(project, env, store.record(project, env, result.after))
    return result


def prune(store: Store, keep: int, *, projects: list[str] | None = None, env: str | None = None,
          dry_run: bool = False, grace_seconds: float = INCOMPLETE_GRACE_SECONDS
          ) -> list[PruneResult]:
    """Keep the `keep` newest complete runs of each project × environment, and the run the
    pointer names whatever its age; delete the rest, and half-written leftovers older than
    `grace_seconds` (younger ones may belong to a publish in progress). Raises MeshError for
    `keep` < 1."""
    if keep < 1:
        raise MeshError("--keep must be at least 1", hint="the run `latest` names is always kept")
    results = []
    for project in projects or store.projects():
        for environment in ([env] if env else store.environments(project)):
            results.append(_prune_env(store, project, environment, keep, dry_run, grace_seconds))
    return results


def _prune_env(store: Store, project: str, env: str, keep: int, dry_run: bool,
               grace_seconds: float) -> PruneResult:
    result = PruneResult(project, env)
    pointer = store.pointer(project, env, strict=False)
    complete = store.runs(project, env)
    kept = {r.run_id for r in complete[-keep:]}
    if pointer is not None:
        kept.add(pointer.run_id)
    complete_ids = {r.run_id for r in complete}
    now = time.time()
    runs_dir = f"{store.env_dir(project, env)}/runs"
    for name in store.backend.folders(runs_dir, hidden=True):
        if name in kept:
            continue
        if name in complete_ids:
            result.deleted.append(name)
        elif _age(store, f"{runs_dir}/{name}", now) > grace_seconds:
            result.incomplete.append(name)
        else:
            continue
        if not dry_run:
            store.delete_run(project, env, name)
    result.kept = [r.run_id for r in complete if r.run_id in kept]
    if not dry_run:
        store.backend.remove_leftovers(store.env_dir(project, env), now - grace_seconds)
    return result


def _age(store: Store, path: str, now: float) -> float:
    """Seconds since anything in a folder last changed (infinite when unknown)."""
    try:
        newest = store.backend.last_modified(path)
    except FileNotFoundError:
        return float("inf")
    return float("inf") if newest is None else now - newest


def _corrupt_pointer(store: Store, project: str, env: str) -> bool:
    try:
        store.pointer(project, env)
        return False
    except MeshError:
        return True


def _invocation_id(artifact: bytes) -> str | None:
    """The dbt invocation that wrote an artifact, or None if unreadable."""
    metadata = artifact_metadata(artifact)
    return metadata.invocation_id if metadata else None
