"""Line numbers for findings, so annotations land on the YAML entry or SQL file they are about."""

from __future__ import annotations

import re
from pathlib import Path

from meshkit.govern.findings import Finding


def add_lines(findings: list[Finding], root: Path | None) -> None:
    """Fill `line` where the finding's file is readable; leave it None elsewhere."""
    texts: dict[Path, list[str] | None] = {}
    for finding in findings:
        if not finding.file or finding.line is not None:
            continue
        path = Path(finding.file)
        if not path.is_absolute() and root is not None:
            path = root / path
        if path not in texts:
            try:
                texts[path] = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                texts[path] = None
        lines = texts[path]
        if lines is None:
            continue
        if path.suffix in (".yml", ".yaml"):
            finding.line = _entry_line(lines, _entry_name(finding))
        else:
            finding.line = 1


def _entry_name(finding: Finding) -> str:
    """The `name:` to look for: a model's name, a source table's name, an exposure's name."""
    if finding.rule == "undocumented_source" and finding.key:
        return finding.key
    parts = finding.subject.split(".")
    if finding.subject.startswith("model.") and len(parts) >= 3:
        return parts[2]
    if finding.subject.startswith("source.") and len(parts) >= 4:
        return parts[3]
    return parts[-1]


def _entry_line(lines: list[str], name: str) -> int | None:
    pattern = re.compile(r"^\s*-?\s*name:\s*['\"]?" + re.escape(name) + r"['\"]?\s*(#.*)?$")
    for number, text in enumerate(lines, start=1):
        if pattern.match(text):
            return number
    return None
