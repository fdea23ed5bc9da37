"""Run a plan's units in worker slots: each once the units it depends on are done, and never
beside a running unit whose database files collide with its own (resources.Resources).

`meshkit ci` runs its units here; `meshkit build`'s Executor schedules the same way, with
its staged planner's parse tasks interleaved.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable

from meshkit.dbt.runner import stop_all
from meshkit.errors import MeshError
from meshkit.orchestrate.plan import Unit
from meshkit.orchestrate.resources import Resources


def run_in_slots(units: list[Unit], depends: dict[tuple[str, int], set[tuple[str, int]]],
                 workers: int, resources: Callable[[str], Resources],
                 run: Callable[[Unit], None]) -> None:
    """Call `run(unit)` for every unit, up to `workers` at a time, in `units`' order among
    those ready. `depends`: unit key → keys it waits for (plan.assign_units); `resources`:
    project → the files its dbt runs write and read. An exception from `run` stops
    scheduling, waits for the running units and is raised; Ctrl-C stops the dbt children."""
    pending = list(units)
    done: set[tuple[str, int]] = set()
    running: dict[Future, Unit] = {}
    slots = max(1, workers)
    pool = ThreadPoolExecutor(max_workers=slots)
    try:
        while pending or running:
            for unit in list(pending):
                if len(running) >= slots:
                    break
                mine = resources(unit.project)
                if depends.get(unit.key, set()) <= done and not any(
                        mine.conflicts(resources(other.project)) for other in running.values()):
                    pending.remove(unit)
                    running[pool.submit(run, unit)] = unit
            if not running:
                raise MeshError("the plan cannot make progress (a dependency was never scheduled)")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                done.add(running.pop(future).key)
                future.result()
    except KeyboardInterrupt:
        stop_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
