"""Run dbt in a subprocess, in a project's folder, streaming its output.

A subprocess per invocation keeps dbt's process-wide state (flags, adapters, DuckDB's
open file) out of meshkit and lets independent projects run in parallel.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_DBT_MAIN = "import sys; from dbt.cli.main import cli; sys.argv[0] = 'dbt'; sys.exit(cli())"
_running: set[subprocess.Popen] = set()     # every dbt child of this process still running
_lock = threading.Lock()
_stopping = threading.Event()               # set by stop_all: the process is ending
# Open files every dbt child inherits: a build's lock stays held while a dbt it started
# still runs, even when meshkit itself was killed (see meshkit.orchestrate.lock).
_INHERITED_FDS: set[int] = set()


def inherit_fd(fd: int, keep: bool = True) -> None:
    """Let every dbt started from now on inherit `fd` (keep=False: stop doing so)."""
    (_INHERITED_FDS.add if keep else _INHERITED_FDS.discard)(fd)


@dataclass(frozen=True)
class DbtResult:
    args: tuple[str, ...]
    returncode: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_dbt(args: list[str], project_dir: Path, env: dict[str, str] | None = None,
            on_line: Callable[[str], None] | None = None) -> DbtResult:
    """`dbt <args>` with cwd = the project (so its profiles.yml and relative paths apply)."""
    environ = {**os.environ, **(env or {})}
    environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    started = time.monotonic()
    if _stopping.is_set():                  # Ctrl-C came: start nothing new
        raise KeyboardInterrupt
    process = subprocess.Popen([sys.executable, "-c", _DBT_MAIN, *args], cwd=project_dir,
                               env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1, pass_fds=tuple(sorted(_INHERITED_FDS)))
    with _lock:
        _running.add(process)
    lines = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            lines.append(line)
            if on_line:
                on_line(line.rstrip("\n"))
        returncode = process.wait()
    finally:
        with _lock:
            _running.discard(process)
    if returncode != 0 and _stopping.is_set():   # stopped by stop_all: not dbt's failure
        raise KeyboardInterrupt
    return DbtResult(tuple(args), returncode, "".join(lines), time.monotonic() - started)


def stop_all(grace: float = 5.0) -> int:
    """Stop every dbt child still running (Ctrl-C): SIGTERM, then SIGKILL after `grace`
    seconds. Returns how many were running; when it returns, none is, and none starts."""
    _stopping.set()
    with _lock:
        children = [p for p in _running if p.poll() is None]
    for process in children:
        process.terminate()
    deadline = time.monotonic() + grace
    for process in children:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return len(children)


def needs_deps(project_dir: Path) -> bool:
    """True when the project declares packages that are not installed yet (or changed)."""
    declared = [project_dir / name for name in ("packages.yml", "dependencies.yml")
                if (project_dir / name).is_file()]
    if not any("packages:" in path.read_text(encoding="utf-8") for path in declared):
        return False
    installed = project_dir / "dbt_packages"
    if not installed.is_dir():
        return True
    return any(path.stat().st_mtime > installed.stat().st_mtime for path in declared)


def strip_ansi(text: str) -> str:
    """`text` without terminal colour codes (dbt colours its log lines)."""
    return _ANSI_RE.sub("", text)
