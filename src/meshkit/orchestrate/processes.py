"""Is a recorded process still the one that recorded itself (pid reuse, zombies)?"""

from __future__ import annotations

import os


def process_token(pid: int) -> str | None:
    """The start time of a process (Linux), so a reused pid is not taken for the original."""
    fields = _stat(pid)
    return fields[19].decode() if fields and len(fields) > 19 else None


def process_alive(pid: int | None, token: str | None = None) -> bool:
    """Whether process `pid` still runs and, given the `token` it recorded (process_token), is
    still that process rather than a later one with a reused pid; a zombie is not alive."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat(pid)
    if not fields:
        return True                             # no /proc: the signal's answer stands
    if fields[0] in (b"Z", b"X"):               # exited, not yet reaped
        return False
    # A different start time: the pid now belongs to another process.
    return token is None or len(fields) <= 19 or fields[19].decode() == token


def _stat(pid: int) -> list[bytes] | None:
    """/proc/PID/stat after the command name; fields[0] is the state (field 3)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
