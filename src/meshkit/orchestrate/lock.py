"""One build at a time per project: `meshkit build` and `meshkit plan` lock the projects they
parse and build, so two builds never run dbt in one project folder (target/, partial parse,
an open DuckDB file) nor publish each other's artifacts.

Each project has a lock file under `.meshkit/locks/`, taken with flock (the kernel releases
it when the holder dies) and inherited by the dbt processes the build starts: a killed
meshkit whose dbt is still writing keeps the lock until that dbt exits. The file holds who
took it, so a waiting build can say which build it waits for.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Callable

from meshkit.dbt.runner import inherit_fd
from meshkit.errors import MeshError
from meshkit.orchestrate.processes import process_alive


class BuildLock:
    """`with BuildLock(state_dir, projects, ...)`: hold every project's lock, sorted by name
    (so two builds never wait on each other). `wait=False` refuses instead of waiting."""

    def __init__(self, state_dir: Path, projects: list[str], *, command: str, wait: bool = True,
                 on_wait: Callable[[str], None] | None = None) -> None:
        self.folder = state_dir / "locks"
        self.projects = sorted(set(projects))
        self.command, self.wait, self.on_wait = command, wait, on_wait
        self.started_at = time.time()
        self.run_id: int | None = None
        self._handles: list = []

    def __enter__(self) -> "BuildLock":
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            for project in self.projects:
                self._acquire(project)
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def set_run(self, run_id: int) -> None:
        """Name the run in every held lock (a build gets its run id after planning)."""
        self.run_id = run_id
        for handle in self._handles:
            self._write_holder(handle)

    def release(self) -> None:
        for handle in reversed(self._handles):
            inherit_fd(handle.fileno(), keep=False)
            handle.truncate(0)      # nobody holds it now
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        self._handles.clear()

    def _acquire(self, project: str) -> None:
        path = self.folder / f"{project}.lock"
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            busy = f"{holder_text(path)} on project '{project}'"
            if not self.wait:
                handle.close()
                raise MeshError(f"{busy}; not waiting (--no-wait)", file=path,
                                hint="run again when it has finished, or without --no-wait to wait "
                                     "for it") from None
            if self.on_wait:
                self.on_wait(f"{busy}; waiting for it (use --no-wait to stop instead)")
            fcntl.flock(handle, fcntl.LOCK_EX)
        self._handles.append(handle)
        inherit_fd(handle.fileno())
        self._write_holder(handle)

    def _write_holder(self, handle) -> None:
        holder = {"pid": os.getpid(), "run_id": self.run_id, "started_at": self.started_at,
                  "command": self.command}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()


def holder_text(path: Path) -> str:
    """'build run 12 (pid 345, `meshkit build`) is running since 22:10:05', from a lock file."""
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started_at") or time.time()))
    name = f"build run {holder['run_id']}" if holder.get("run_id") else "a build"
    pid = holder.get("pid")
    if pid and not process_alive(pid):
        return (f"{name} (pid {pid}, which has exited) still has dbt running, started {since}")
    command = f", `{holder['command']}`" if holder.get("command") else ""
    return f"{name} (pid {pid}{command}) is running since {since}"
