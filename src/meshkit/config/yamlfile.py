"""Read YAML with line numbers, and validate it into msgspec structs with file:line errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError

from meshkit.errors import MeshError

T = TypeVar("T")

_PATH_RE = re.compile(r" - at `(\$[^`]*)`$")
_UNKNOWN_RE = re.compile(r"unknown field `([^`]+)`")
_STEP_RE = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, keeping line numbers (ruamel round-trip nodes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MeshError("file not found", file=path) from None
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise MeshError(_first_line(exc.problem), file=path, line=line,
                        hint="each key may appear once; remove or rename the duplicate") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise MeshError(f"invalid YAML: {exc.problem or exc.context}", file=path, line=line) from None


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text else "duplicate key"


def line_of(doc: Any, path: str) -> int | None:
    """The 1-based line of a msgspec error path such as `$.projects.analytics.path`."""
    node, line = doc, _node_line(doc)
    for key, index in _STEP_RE.findall(path.removeprefix("$")):
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and index and int(index) < len(node):
            line = node.lc.item(int(index))[0] + 1
            node = node[int(index)]
        else:
            break
    return line


def _node_line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else None


def convert(data: Any, into: type[T], *, file: Path, doc: Any = None, at: str = "$") -> T:
    """Validate YAML data (the node at path `at` of `doc`) into a struct.

    Errors name the file, the dotted path and the line of the offending key.
    """
    try:
        return msgspec.convert(data, into, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH_RE.search(text)
        message = text[: match.start()] if match else text
        path = at + (match.group(1)[1:] if match else "")
        unknown = _UNKNOWN_RE.search(message)
        line = line_of(data if doc is None else doc, path + (f".{unknown.group(1)}" if unknown else ""))
        shown = path.removeprefix("$").removeprefix(".") or "top level"
        raise MeshError(f"{message[0].lower()}{message[1:]} (at {shown})", file=file,
                        line=line) from None
