"""`--baseline FILE`: report only findings that are new since a saved report.

A baseline is the JSON report of an earlier check (`meshkit check --format json -o FILE`).
Findings are matched by fingerprint (rule, subject unique id with its version, key), never
by message or line, so rewording a message or moving YAML around does not resurface them.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from meshkit.errors import MeshError


class _Entry(msgspec.Struct):
    fingerprint: str


class _Baseline(msgspec.Struct):
    findings: list[_Entry]


def read_baseline(path: Path) -> frozenset[str]:
    """The finding keys a baseline file accepts (as `meshkit check --format json` writes them).

    Raises MeshError naming the file when it is missing or not such a file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MeshError("baseline file not found", file=path,
                        hint="write one with `meshkit check --format json --output FILE`") from None
    try:
        baseline = msgspec.json.decode(data, type=_Baseline)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MeshError(f"not a meshkit JSON report: {exc}", file=path,
                        hint="write one with `meshkit check --format json --output FILE`") from None
    return frozenset(entry.fingerprint for entry in baseline.findings)
