"""Read YAML with line numbers, and validate it into msgspec structs with file:line errors."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import ReusedAnchorWarning
from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import RoundTripScanner, ScannerError

from meshkit.errors import MeshError

T = TypeVar("T")

_PATH_RE = re.compile(r" - at `(\$[^`]*)`$")
_KEY_RE = re.compile(r" - at `key` in `(\$[^`]*)`$")
_UNKNOWN_RE = re.compile(r"unknown field `([^`]+)`")
_STEP_RE = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
MAX_FLOW_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Scanner(RoundTripScanner):
    """Skips comments instead of keeping them: meshkit only reads these files, and ruamel
    joins a run of comment lines by repeated string concatenation, which made loading
    quadratic in their number (a 3.4 MB mesh.yml of comments: 13 s; now 0.9 s)."""

    def scan_to_next_token(self) -> None:
        """Scanner.scan_to_next_token (PyYAML's: comments dropped), a comment skipped at once."""
        reader = self.reader
        if reader.index == 0 and reader.peek() == "\ufeff":
            reader.forward()
        white_space = " \t" if self.flow_level > 0 else " "
        while True:
            while reader.peek() in white_space:
                reader.forward()
            if reader.peek() == "#":
                _skip_to_line_end(reader)
            if not self.scan_line_break():
                return None
            if not self.flow_level:
                self.allow_simple_key = True

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        # ruamel looks back over every open bracket for each new one: 5,000 `[` took 12 s.
        if self.flow_level >= MAX_FLOW_DEPTH:
            raise ScannerError(None, None, f"[ and {{ nested more than {MAX_FLOW_DEPTH} deep",
                               self.reader.get_mark())
        super().fetch_flow_collection_start(TokenClass, to_push)


_LINE_END = re.compile("[\0\r\n\x85\u2028\u2029]")


def _skip_to_line_end(reader: Any) -> None:
    """Move the reader to the end of the line (a comment holds no line break)."""
    if reader.stream is not None:             # a stream is read in chunks: one at a time
        while reader.peek() not in "\0\r\n\x85\u2028\u2029":
            reader.forward()
        return
    end = _LINE_END.search(reader.buffer, reader.pointer)
    stop = end.start() if end else len(reader.buffer) - 1
    skipped = reader.buffer[reader.pointer:stop]
    reader.pointer, reader.index = stop, reader.index + len(skipped)
    reader.column += len(skipped) - skipped.count("\ufeff")     # as Reader.forward counts


class _Constructor(RoundTripConstructor):
    """Values YAML cannot build (`2026-02-30`: a date that does not exist) are errors at
    their line, not a ValueError from deep inside the loader."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node.value, str) and _SURROGATE.search(node.value):
            raise ConstructorError(None, None, "a string holds half of a UTF-16 surrogate pair "
                                   "(\\ud800-\\udfff escapes), which is not a character",
                                   node.start_mark)
        try:
            return super().construct_object(node, deep=deep)
        except (YAMLError, RecursionError):
            raise
        except Exception as exc:    # ruamel's constructors on odd scalars: '0x_', '!!int x'
            value = node.value if isinstance(node.value, str) else node.tag
            raise ConstructorError(None, None, f"cannot read {shorten(value)!r}: {exc}",
                                   node.start_mark) from None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, keeping line numbers (ruamel round-trip nodes).

    Raises MeshError naming the file (and line, where known) for a missing or unreadable file,
    bytes that are not UTF-8, invalid YAML, values YAML cannot build and nesting too deep.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MeshError("file not found", file=path) from None
    except OSError as exc:
        raise MeshError(f"cannot read the file: {exc.strerror or exc}", file=path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MeshError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", file=path,
                        line=data[:exc.start].count(b"\n") + 1,
                        hint="save the file as UTF-8") from None
    return _parse(text, path)


def _parse(text: str, path: Path) -> Any:
    yaml = YAML(typ="rt")
    yaml.Scanner = _Scanner
    yaml.Constructor = _Constructor
    try:
        with warnings.catch_warnings():    # YAML 1.2 lets an anchor be defined again
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            return yaml.load(text)
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise MeshError(_first_line(exc.problem), file=path, line=line,
                        hint="each key may appear once; remove or rename the duplicate") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise MeshError(f"invalid YAML: {exc.problem or exc.context}", file=path, line=line) from None
    except ReaderError as exc:
        line = text[:exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise MeshError(f"invalid YAML: {exc.reason} ({char})", file=path, line=line) from None
    except YAMLError as exc:
        raise MeshError(f"invalid YAML: {exc}", file=path) from None
    except RecursionError:
        raise MeshError("invalid YAML: nested too deeply", file=path,
                        hint="these files need a few levels of nesting, not hundreds") from None


def resolve_path(base: Path, written: str, *, file: Path, line: int | None, what: str) -> Path:
    """A path written in a YAML file, resolved against `base` (symlinks followed).

    Raises MeshError at file:line for paths no file system accepts (control characters
    such as NUL, names too long), so they never reach the OS as a ValueError or OSError.
    """
    if not written.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in written):
        shown = "is empty" if not written.strip() else f"{written!r} has a control character"
        raise MeshError(f"{what}: the path {shown}", file=file, line=line,
                        hint="write a folder or file path relative to this file")
    try:
        return (base / written).resolve()
    except (OSError, ValueError) as exc:
        raise MeshError(f"{what}: cannot use the path {shorten(written)!r}: {exc}", file=file,
                        line=line) from None


def shorten(text: str, width: int = 60) -> str:
    """A value for a message: long ones cut to `width` characters."""
    return text if len(text) <= width else text[:width - 1] + "…"


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
        match = _PATH_RE.search(text) or _KEY_RE.search(text)
        message = text[: match.start()] if match else text
        if match and match.re is _KEY_RE:            # a mapping key of the wrong type
            message = f"a key: {message[0].lower()}{message[1:]}"
        path = at + (match.group(1)[1:] if match else "")
        unknown = _UNKNOWN_RE.search(message)
        line = line_of(data if doc is None else doc, path + (f".{unknown.group(1)}" if unknown else ""))
        shown = path.removeprefix("$").removeprefix(".") or "top level"
        raise MeshError(f"{message[0].lower()}{message[1:]} (at {shown})", file=file,
                        line=line) from None
