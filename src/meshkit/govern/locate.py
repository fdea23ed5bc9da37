"""Line numbers for findings, so annotations land on the YAML entry or SQL file they are about."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypedDict

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
    # block style (`- name: orders`) or a flow mapping on one line (`- {name: orders, ...}`)
    pattern = re.compile(r"^\s*-?\s*\{?\s*name:\s*['\"]?" + re.escape(name)
                         + r"['\"]?\s*([,}].*)?(#.*)?$")
    for number, text in enumerate(lines, start=1):
        if pattern.match(text):
            return number
    return None


_REF_CALL = re.compile(r"\bref\s*\(([^)]*)\)")
_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")
_VERSION = re.compile(r"""\b(?:v|version)\s*=\s*['"]?([\w.]+)""")


def ref_line(code: str, project: str, name: str, version: str | None) -> int | None:
    """The line of `code` (1-based) with the ref() call to project's model `name`: the call
    pinning `version` if there is one, else an unpinned call, else any call to it."""
    best: tuple[int, int] | None = None           # (preference, line)
    for match in _REF_CALL.finditer(code):
        args = match.group(1)
        names = _QUOTED.findall(_VERSION.sub("", args))
        if not names or names[-1] != name or (len(names) > 1 and names[0] != project):
            continue
        pinned = _VERSION.search(args)
        preference = 0 if pinned and version is not None and pinned.group(1) == version \
            else 1 if not pinned else 2
        line = code.count("\n", 0, match.start()) + 1
        if best is None or preference < best[0]:
            best = (preference, line)
    return best[1] if best else None


class RefLocation(TypedDict):
    """Where a Violation about a ref points: keyword arguments of Violation."""

    file: str | None
    line: int | None


def at_ref(view, model, target_project: str, target_name: str,
           version: str | None) -> RefLocation:
    """`file` and `line` for a Violation about one of a model's refs: its SQL file, at the ref."""
    from meshkit.govern.engine import file_of

    file = file_of(view, model, "modeling")
    return {"file": file, "line": ref_line(_source_text(view, model, file), target_project,
                                           target_name, version)}


def _source_text(view, model, file: str | None) -> str:
    """The model's file as written (dbt strips leading blank lines from raw_code, which
    would shift every line), or raw_code where the file cannot be read."""
    info = view.projects.get(model.project)
    if file and info is not None and info.from_working_copy:
        path = Path(file) if view.root is None else view.root / file
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
    return model.node.raw_code
