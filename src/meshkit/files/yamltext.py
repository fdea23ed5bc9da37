"""Editing dbt's YAML files without reformatting them.

ruamel.yaml's round-trip loader gives every mapping key and sequence item its line and
column. A split mostly *removes* things from a file (the entries that move to another project)
and renames a few keys, so it edits the text at those positions and leaves every other byte —
comments, blank lines, quoting, key order — as written. A comment directly above an entry
travels with the entry. Where text editing cannot work (flow style, `[a, b]` on one line) the
file is loaded and dumped by ruamel's round-trip dumper, which keeps comments too; so is a
model entry that gains `access`, a contract and column types.

A comment belongs to the entry whose dash it sits directly above, at the dash's indentation;
anything else between two entries (a blank line, a deeper comment) belongs to the entry before.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from meshkit.errors import MeshError

# (mapping indent, sequence indent, dash offset) styles seen in dbt projects.
_STYLES = [(2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 3, 1), (3, 3, 1), (4, 5, 3)]


def new_yaml(style: tuple[int, int, int] = (2, 4, 2)) -> YAML:
    """A ruamel round-trip YAML with this (mapping, sequence, offset) indentation that keeps
    quotes and never wraps lines."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=style[0], sequence=style[1], offset=style[2])
    return yaml


def load(text: str, file: str) -> Any:
    """The round-trip parse of `text` (CommentedMap/CommentedSeq keep comments and positions).

    Raises MeshError naming `file` and the line for invalid YAML."""
    try:
        return new_yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise MeshError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=file,
                        line=mark.line + 1 if mark else None) from None


def dump(data: Any, style: tuple[int, int, int]) -> str:
    """`data` as YAML text in this (mapping, sequence, offset) indentation style."""
    buffer = io.StringIO()
    new_yaml(style).dump(data, buffer)
    return buffer.getvalue()


def guess_style(text: str) -> tuple[int, int, int]:
    """The indentation style that reproduces a file most closely when dumped."""
    best, best_ratio = _STYLES[0], -1.0
    for style in _STYLES:
        try:
            again = dump(new_yaml().load(text), style)
        except YAMLError:
            return best
        if again == text:
            return style
        ratio = difflib.SequenceMatcher(None, text, again, autojunk=False).quick_ratio()
        if ratio > best_ratio:
            best, best_ratio = style, ratio
    return best


def is_block(node: Any) -> bool:
    """Whether a parsed mapping or sequence is written in block style (not `{…}` or `[…]`)."""
    fa = getattr(node, "fa", None)
    return fa is not None and not fa.flow_style()


@dataclass(frozen=True)
class Span:
    """Lines [start, end) of the text (0-based)."""

    start: int
    end: int


class TextDoc:
    """A YAML file's text and its parse, for edits at known positions."""

    def __init__(self, text: str, file: str):
        self.text = text
        self.file = file
        self.lines = text.splitlines(keepends=True)
        self.data = load(text, file)

    # -- positions ----------------------------------------------------------------------------
    def _indent(self, index: int) -> int:
        line = self.lines[index]
        return len(line) - len(line.lstrip(" "))

    def _blank(self, index: int) -> bool:
        return not self.lines[index].strip()

    def _comment(self, index: int) -> bool:
        return self.lines[index].lstrip().startswith("#")

    def _leading_comments(self, line: int, column: int) -> int:
        """First line of the comment block directly above `line` at `column`."""
        start = line
        while start > 0 and self._comment(start - 1) and self._indent(start - 1) == column:
            start -= 1
        return start

    def _deeper(self, index: int, column: int, dashes: bool) -> bool:
        """Whether a line nests inside a block at `column` (a key's `- item` may sit at it)."""
        indent = self._indent(index)
        return indent > column or (dashes and indent == column
                                   and self.lines[index].lstrip().startswith("-"))

    def _block_end(self, first: int, column: int, dashes: bool = False) -> int:
        """The line after a block that starts at `first` and nests deeper than `column`."""
        end = first + 1
        last_content = first
        while end < len(self.lines):
            if self._blank(end):
                end += 1
                continue
            if self._comment(end) and self._indent(end) <= column:
                # A shallow comment inside the block (content follows deeper) is part of it.
                ahead = end + 1
                while ahead < len(self.lines) and (self._blank(ahead) or self._comment(ahead)):
                    ahead += 1
                if ahead < len(self.lines) and self._deeper(ahead, column, dashes):
                    end = ahead
                    continue
                break
            if not self._deeper(end, column, dashes):
                break
            last_content = end
            end += 1
        return last_content + 1

    def item_spans(self, seq: CommentedSeq) -> list[Span]:
        """Each item of a block sequence, with the comment lines directly above its dash."""
        starts = []
        for index in range(len(seq)):
            line, column = seq.lc.item(index)
            dash = self.lines[line].rfind("-", 0, column)
            dash = dash if dash >= 0 else column
            starts.append((line, dash))
        spans = []
        for line, dash in starts:
            start = self._leading_comments(line, dash)
            spans.append([start, None, dash])
        for index, span in enumerate(spans):
            if index + 1 < len(spans):
                span[1] = spans[index + 1][0]
            else:
                span[1] = self._block_end(starts[index][0], span[2])
        return [Span(s, e) for s, e, _ in spans]

    def key_span(self, mapping: CommentedMap, key: str) -> Span:
        """A key of a block mapping with its value and the comments directly above it."""
        line, column = mapping.lc.key(key)
        return Span(self._leading_comments(line, column), self._block_end(line, column, dashes=True))

    def value_position(self, mapping: CommentedMap, key: str) -> tuple[int, int, int] | None:
        """(line, start column, end column) of a one-line scalar value."""
        line, column = mapping.lc.value(key)
        text = self.lines[line]
        value = mapping[key]
        if not isinstance(value, (str, int, float)) or line != mapping.lc.key(key)[0]:
            return None
        rest = text[column:]
        if rest[:1] in "'\"":
            close = rest.find(rest[0], 1)
            return (line, column, column + close + 1) if close > 0 else None
        token = rest.split("#", 1)[0].rstrip("\r\n").rstrip()
        return line, column, column + len(token)

    def key_position(self, mapping: CommentedMap, key: str) -> tuple[int, int, int]:
        line, column = mapping.lc.key(key)
        text = self.lines[line]
        end = column
        if text[column:column + 1] in "'\"":
            end = text.find(text[column], column + 1) + 1
        else:
            while end < len(text) and text[end] not in ":\n":
                end += 1
        return line, column, end

    # -- editing -------------------------------------------------------------------------------
    def edited(self, remove: Iterable[Span] = (),
               replace: Iterable[tuple[int, int, int, str]] = ()) -> str:
        """The text without the removed lines and with (line, start, end, text) replacements."""
        lines = list(self.lines)
        for row, start, end, new in sorted(replace, key=lambda r: (r[0], r[1]), reverse=True):
            lines[row] = lines[row][:start] + new + lines[row][end:]
        dropped: set[int] = set()
        for span in remove:
            dropped.update(range(span.start, span.end))
        kept: list[str] = []
        for index, line in enumerate(lines):
            if index in dropped:
                continue
            # Removing a block between two blank lines leaves one blank line, not two.
            if (not line.strip() and index - 1 in dropped and kept and not kept[-1].strip()):
                continue
            kept.append(line)
        text = "".join(kept)
        if dropped and text.endswith("\n\n"):
            text = text.rstrip("\n") + "\n"     # what removed entries leave at the end
        return text


class _NotPlain(Exception):
    """Part of the file is not plain block YAML (flow style, an odd layout): the caller falls
    back to a round-trip dump."""


def filter_entries(text: str, file: str, keep: dict[str, Any]) -> tuple[str, bool]:
    """Keep some entries of a properties file; returns (text, anything left but `version`).

    `keep` maps a top-level key (models, seeds, sources, …) to a predicate on an entry, or for
    `sources` to a predicate on (source entry, table entry). Keys not in `keep` are kept whole.
    """
    doc = TextDoc(text, file)
    data = doc.data
    if not isinstance(data, CommentedMap):
        return text, False
    remove: list[Span] = []
    left = False
    try:
        for key in list(data.keys()):
            value = data[key]
            if key not in keep or not isinstance(value, CommentedSeq):
                left = left or key != "version"
                continue
            if not is_block(value) or not is_block(data):
                raise _NotPlain
            if _filter_list(doc, key, value, keep[key], remove):
                left = True
            elif value:
                remove.append(doc.key_span(data, key))
    except _NotPlain:
        return _filter_by_dump(text, file, keep)
    return doc.edited(remove), left


def _filter_list(doc: TextDoc, key: str, entries: CommentedSeq, keep: Callable[..., bool],
                 remove: list[Span]) -> bool:
    """Adds the spans of the entries (or source tables) not kept to `remove`; whether any is
    kept."""
    spans = doc.item_spans(entries)
    kept_any = False
    for span, entry in zip(spans, entries, strict=True):
        if key == "sources" and isinstance(entry, CommentedMap) and isinstance(entry.get("tables"), CommentedSeq):
            kept = _filter_tables(doc, entry, keep, remove)
        elif key == "sources":
            kept = keep(entry, None)
        else:
            kept = keep(entry)
        if kept:
            kept_any = True
        else:
            remove.append(span)
    return kept_any


def _filter_tables(doc: TextDoc, source: CommentedMap, keep: Callable[..., bool],
                   remove: list[Span]) -> bool:
    """Adds the spans of the source's tables not kept to `remove` (none when no table is: the
    caller removes the whole source); whether any is kept."""
    tables = source["tables"]
    wanted = [keep(source, table) for table in tables]
    if not any(wanted):
        return False
    if not all(wanted):
        if not is_block(tables):
            raise _NotPlain
        remove.extend(s for s, w in zip(doc.item_spans(tables), wanted, strict=True) if not w)
    return True


def _filter_by_dump(text: str, file: str, keep: dict[str, Any]) -> tuple[str, bool]:
    style = guess_style(text)
    data = load(text, file)
    left = False
    for key in list(data.keys()):
        value = data[key]
        if key not in keep or not isinstance(value, list):
            left = left or key != "version"
            continue
        for index in reversed(range(len(value))):
            entry = value[index]
            if key == "sources" and isinstance(entry, dict) and isinstance(entry.get("tables"), list):
                tables = entry["tables"]
                for t in reversed(range(len(tables))):
                    if not keep[key](entry, tables[t]):
                        del tables[t]
                if not tables:
                    del value[index]
            elif not (keep[key](entry, None) if key == "sources" else keep[key](entry)):
                del value[index]
        if value:
            left = True
        else:
            del data[key]
    return dump(data, style), left


def entry_names(text: str, file: str) -> dict[str, list[str]]:
    """Top-level key → names of its entries (sources as `source.table`)."""
    data = load(text, file)
    names: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return names
    for key, value in data.items():
        if not isinstance(value, list):
            continue
        for entry in value:
            if not isinstance(entry, dict):
                continue
            if key == "sources":
                for table in entry.get("tables") or []:
                    if isinstance(table, dict):
                        names.setdefault(key, []).append(f"{entry.get('name')}.{table.get('name')}")
            else:
                names.setdefault(key, []).append(str(entry.get("name")))
    return names


def publish_model(text: str, file: str, name: str, *, access: bool,
                  columns: list[tuple[str, str]] | None) -> str | None:
    """A model entry made public (`access: public`) and given an enforced contract with these
    (column, data type) pairs in this order — by inserting lines, so every other byte of the file
    stays as written. Documented columns keep their text and move into the table's order (an
    enforced contract builds the table in the contract's order). None when the entry is not
    plain block YAML (flow style), for the caller to fall back to a round-trip dump.
    """
    doc = TextDoc(text, file)
    models = doc.data.get("models") if isinstance(doc.data, CommentedMap) else None
    if not isinstance(models, CommentedSeq) or not is_block(models):
        return None
    index = next((i for i, e in enumerate(models) if isinstance(e, CommentedMap) and e.get("name") == name), None)
    if index is None:
        return text
    entry = models[index]
    config = entry.get("config")
    if not is_block(entry) or "name" not in entry or (config is not None and not (
            isinstance(config, CommentedMap) and (is_block(config) or not config))):
        return None
    edits = _Edits(doc)
    try:
        wanted: list[tuple[str, str]] = []              # config keys to add: (key, value or "")
        if access:
            wanted += _publish(edits, entry, config)
        if columns is not None:
            wanted += _enforce_contract(edits, config)
        if wanted:
            _add_config(edits, entry, config, wanted)
        if columns is not None:
            _contract_columns(edits, models, index, columns)
    except _NotPlain:
        return None
    return edits.apply()


@dataclass
class _Edits:
    """Changes to a file's lines, applied at once so that earlier ones keep later positions."""

    doc: TextDoc
    inserts: list[tuple[int, list[str]]] = field(default_factory=list)   # (before line, lines)
    replace: list[tuple[int, int, int, str]] = field(default_factory=list)
    region: tuple[int, int, list[str]] | None = None    # the columns block rewritten in order

    def set_value(self, mapping: CommentedMap, key: str, value: str) -> None:
        position = self.doc.value_position(mapping, key)
        if position is None:
            raise _NotPlain
        self.replace.append((*position, value))

    def apply(self) -> str:
        lines = list(self.doc.lines)
        for line, start, end, new in self.replace:
            lines[line] = lines[line][:start] + new + lines[line][end:]
        edits: list[tuple[int, int, list[str]]] = [(at, at, new) for at, new in self.inserts]
        if self.region:
            edits.append(self.region)
        for start, end, block in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
            lines[start:end] = block
        return "".join(lines)


def _publish(edits: _Edits, entry: CommentedMap, config: Any) -> list[tuple[str, str]]:
    """Sets an `access` the entry has to public; else the config key to add."""
    if "access" in entry:
        edits.set_value(entry, "access", "public")
    elif isinstance(config, CommentedMap) and "access" in config:
        edits.set_value(config, "access", "public")
    else:
        return [("access", "public")]
    return []


def _enforce_contract(edits: _Edits, config: Any) -> list[tuple[str, str]]:
    """Enforces a `contract` the config has; else the config key to add."""
    contract = config.get("contract") if isinstance(config, CommentedMap) else None
    if isinstance(contract, CommentedMap) and is_block(contract) and contract:
        if "enforced" in contract:
            edits.set_value(contract, "enforced", "true")
        else:
            line, col = contract.lc.key(next(iter(contract)))
            edits.inserts.append((line, [" " * col + "enforced: true\n"]))
        return []
    if contract is not None:
        raise _NotPlain
    return [("contract", "")]


def _add_config(edits: _Edits, entry: CommentedMap, config: Any,
                wanted: list[tuple[str, str]]) -> None:
    """Inserts the wanted keys after what `config:` has, or a new `config:` block after
    `name:`."""
    key_col = entry.lc.key("name")[1]
    step = _mapping_step(entry, key_col)
    if isinstance(config, CommentedMap) and config:
        base = config.lc.key(next(iter(config)))[1]
        at = _last_content(edits.doc, edits.doc.key_span(entry, "config")) + 1
        lines = []
    else:
        if isinstance(config, CommentedMap):        # `config: {}`: that line would be replaced
            raise _NotPlain
        at, base = entry.lc.key("name")[0] + 1, key_col + step
        lines = [" " * key_col + "config:\n"]
    for key, value in wanted:
        if key == "contract":
            lines += [" " * base + "contract:\n", " " * (base + step) + "enforced: true\n"]
        else:
            lines.append(" " * base + f"{key}: {value}\n")
    edits.inserts.append((at, lines))


def _contract_columns(edits: _Edits, models: CommentedSeq, index: int,
                      columns: list[tuple[str, str]]) -> None:
    """The entry's `columns:` with a data type each, in the table's order."""
    doc, entry = edits.doc, models[index]
    key_col = entry.lc.key("name")[1]
    listed = entry.get("columns")
    if listed is None:
        dash = key_col + _dash_offset(doc, models)
        lines = [" " * key_col + "columns:\n"]
        for column, data_type in columns:
            lines += [" " * dash + f"- name: {column}\n", " " * (dash + 2) + f"data_type: {data_type}\n"]
        edits.inserts.append((_last_content(doc, doc.item_spans(models)[index]) + 1, lines))
    elif isinstance(listed, CommentedSeq) and is_block(listed) and listed and \
            all(isinstance(c, CommentedMap) and is_block(c) and "name" in c for c in listed):
        edits.region = _ordered_columns(doc, listed, columns)
    else:
        raise _NotPlain


def _mapping_step(entry: CommentedMap, key_col: int) -> int:
    """How far this file indents a nested mapping (2 unless the entry shows otherwise)."""
    for key, value in entry.items():
        if isinstance(value, CommentedMap) and value and is_block(value):
            return max(1, value.lc.key(next(iter(value)))[1] - entry.lc.key(key)[1])
    return 2


def _dash_offset(doc: TextDoc, seq: CommentedSeq) -> int:
    """Columns from a key to the dashes of its sequence items, as `models:` writes them."""
    line, column = seq.lc.item(0)
    dash = doc.lines[line].rfind("-", 0, column)
    parent = doc.data.lc.key("models")[1] if isinstance(doc.data, CommentedMap) else 0
    return max(0, (dash if dash >= 0 else column) - parent)


def _last_content(doc: TextDoc, span: Span) -> int:
    end = span.end - 1
    while end > span.start and (doc._blank(end) or doc._comment(end)):
        end -= 1
    return end


def _ordered_columns(doc: TextDoc, listed: CommentedSeq,
                     columns: list[tuple[str, str]]) -> tuple[int, int, list[str]]:
    """The lines of a columns list in the table's order, each documented column's text kept
    (with a `data_type` added) and undocumented ones appended in the same style."""
    spans = doc.item_spans(listed)
    start, end = spans[0].start, _last_content(doc, spans[-1]) + 1
    gap = any(doc._blank(i) for s in spans[:-1] for i in range(s.start, s.end))
    dash = doc.lines[listed.lc.item(0)[0]].rfind("-", 0, listed.lc.item(0)[1])
    inner = listed[0].lc.key("name")[1]
    blocks: dict[str, list[str]] = {}
    for column, span in zip(listed, spans, strict=True):
        stop = span.end if span is not spans[-1] else end
        body = list(doc.lines[span.start:stop])
        while body and not body[-1].strip():
            body.pop()
        if "data_type" not in column and "data_type" not in {k for k in column}:
            typed = next((t for n, t in columns if n.lower() == str(column["name"]).lower()), None)
            if typed is not None:
                at = column.lc.key("name")[0] - span.start + 1
                body.insert(at, " " * column.lc.key("name")[1] + f"data_type: {typed}\n")
        blocks[str(column["name"]).lower()] = body
    ordered: list[list[str]] = []
    for column, data_type in columns:
        kept = blocks.pop(column.lower(), None)
        ordered.append(kept if kept is not None else
                       [" " * dash + f"- name: {column}\n", " " * inner + f"data_type: {data_type}\n"])
    ordered += list(blocks.values())
    out: list[str] = []
    for index, body in enumerate(ordered):
        if index and gap:
            out.append("\n")
        out += body
    return start, end, out
