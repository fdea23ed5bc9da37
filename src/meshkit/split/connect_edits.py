"""The text edits of `meshkit connect`, each keeping every other byte of the file as written.

- `source('shop', 'orders')` → `ref('core', 'orders')` (in Jinja in SQL, anywhere in YAML and
  Python models), in the quoting style of the call;
- a source table (or a whole source, or a whole file) removed from a properties file;
- a package entry removed from packages.yml / dependencies.yml / package-lock.yml;
- `projects:` entries added to dependencies.yml;
- a model made public in its properties file (`access:` changed in place, or one line added).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from meshkit.files.yamltext import TextDoc, filter_entries, is_block

_SOURCE_RE = re.compile(r"""(?<![\w.])(?P<call>(?:dbt\.)?source)\s*\((?P<args>(?:'[^'\n]*'|"[^"\n]*"|[^()'"])*)\)""")
_LITERAL_ARGS = re.compile(r"""^\s*(?P<q>['"])(?P<source>[^'"]*)(?P=q)\s*,\s*(?P<q2>['"])(?P<table>[^'"]*)(?P=q2)\s*$""")
_JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


@dataclass(frozen=True)
class RefTarget:
    """What a source call becomes: `ref('project', 'model', v=2)`."""

    project: str
    model: str
    version: str | None = None

    def call(self, quote: str, python: bool) -> str:
        q = quote
        version = f", v={self.version}" if self.version is not None else ""
        return f"{'dbt.' if python else ''}ref({q}{self.project}{q}, {q}{self.model}{q}{version})"


@dataclass
class SourceRewrite:
    text: str
    rewritten: list[tuple[str, str, int]] = field(default_factory=list)  # (source, table, line)
    dynamic: list[int] = field(default_factory=list)                     # lines of non-literal calls


def rewrite_sources(text: str, targets: dict[tuple[str, str], RefTarget], *,
                    mode: str = "sql") -> SourceRewrite:
    """Replace literal `source(name, table)` calls found in `targets`. `mode`: sql|python|yaml.

    In SQL only Jinja regions are searched (a SQL function named `source` is left alone).
    """
    result = SourceRewrite(text)
    if mode == "sql":
        pieces, last = [], 0
        for region in _JINJA_RE.finditer(text):
            pieces.append(text[last:region.start()])
            pieces.append(_rewrite_span(text, region.start(), region.end(), targets, result, False))
            last = region.end()
        pieces.append(text[last:])
        result.text = "".join(pieces)
    else:
        result.text = _rewrite_span(text, 0, len(text), targets, result, mode == "python")
    return result


def _rewrite_span(text: str, start: int, end: int, targets: dict[tuple[str, str], RefTarget],
                  result: SourceRewrite, python: bool) -> str:
    span = text[start:end]
    out, last = [], 0
    for match in _SOURCE_RE.finditer(span):
        line = text.count("\n", 0, start + match.start()) + 1
        literal = _LITERAL_ARGS.match(match.group("args"))
        if literal is None:
            result.dynamic.append(line)
            continue
        key = (literal.group("source"), literal.group("table"))
        target = targets.get(key)
        if target is None:
            continue
        out.append(span[last:match.start()])
        out.append(target.call(literal.group("q"), python or match.group("call").startswith("dbt.")))
        last = match.end()
        result.rewritten.append((*key, line))
    out.append(span[last:])
    return "".join(out)


def remove_source_tables(text: str, file: str, tables: set[tuple[str, str]]) -> str | None:
    """The properties file without these source tables; None when nothing but `version` is left.

    A source whose every table goes is removed whole, with the comments directly above it.
    """
    def keep(entry, table) -> bool:
        if table is None or not isinstance(entry, dict):
            return True
        return (str(entry.get("name")), str(table.get("name"))) not in tables

    out, left = filter_entries(text, file, {"sources": keep})
    return out if left else None


def remove_list_entries(text: str, file: str, key: str,
                        drop: Callable[[object], bool]) -> str | None:
    """`key:`'s list without the entries `drop` picks; the key goes when it empties.

    Returns None when the file holds nothing else (no other key). Flow-style lists are
    rewritten through the round-trip dumper by `filter_entries`.
    """
    out, left = filter_entries(text, file, {key: lambda entry: not drop(entry)})
    doc = TextDoc(out, file) if out.strip() else None
    has_other = doc is not None and isinstance(doc.data, CommentedMap) and bool(doc.data)
    return out if (left or has_other) else None


def add_projects(text: str | None, names: list[str]) -> str:
    """dependencies.yml with `names` under `projects:` (an existing list is extended)."""
    if not names:
        return text or ""
    if not text or not text.strip():
        return "projects:\n" + "".join(f"  - name: {n}\n" for n in names)
    doc = TextDoc(text, "dependencies.yml")
    data = doc.data if isinstance(doc.data, CommentedMap) else CommentedMap()
    projects = data.get("projects")
    body = text if text.endswith("\n") else text + "\n"
    if isinstance(projects, CommentedSeq) and projects and is_block(projects):
        spans = doc.item_spans(projects)
        line, column = projects.lc.item(0)
        dash = doc.lines[line].rfind("-", 0, column)
        indent, gap = " " * max(dash, 0), " " * (column - dash - 1 if dash >= 0 else 1)
        end = spans[-1].end
        # Trailing blank lines of the last entry stay after the new ones.
        while end > spans[-1].start + 1 and not doc.lines[end - 1].strip():
            end -= 1
        lines = body.splitlines(keepends=True)
        added = "".join(f"{indent}-{gap}name: {n}\n" for n in names)
        return "".join(lines[:end]) + added + "".join(lines[end:])
    if "projects" in data:
        # `projects: []` or a flow list: rewrite just that key.
        line, _ = data.lc.key("projects")
        lines = body.splitlines(keepends=True)
        end = doc.key_span(data, "projects").end
        existing = [str(p.get("name")) for p in projects or [] if isinstance(p, dict)]
        block = "projects:\n" + "".join(f"  - name: {n}\n" for n in [*existing, *names])
        return "".join(lines[:line]) + block + "".join(lines[end:])
    return body + "\nprojects:\n" + "".join(f"  - name: {n}\n" for n in names)


def make_public(text: str, file: str, model: str) -> str | None:
    """A properties file whose entry for `model` is `access: public`, or None if it has none.

    An `access:` already written (top level or under `config:`) changes in place; otherwise
    `access: public` is added as the first key of the entry's `config:` (created after
    `name:` when missing), at the file's own indentation.
    """
    doc = TextDoc(text, file)
    models = doc.data.get("models") if isinstance(doc.data, CommentedMap) else None
    if not isinstance(models, CommentedSeq):
        return None
    entry = next((e for e in models if isinstance(e, CommentedMap) and e.get("name") == model), None)
    if entry is None:
        return None
    for holder in (entry.get("config"), entry):
        if isinstance(holder, CommentedMap) and "access" in holder:
            position = doc.value_position(holder, "access")
            if position is None:
                break
            line, start, end = position
            return doc.edited(replace=[(line, start, end, "public")])
    if not is_block(entry):
        return None
    lines = list(doc.lines)
    config = entry.get("config")
    name_line, name_column = entry.lc.key("name")
    if isinstance(config, CommentedMap) and config and is_block(config):
        first = next(iter(config))
        line, column = config.lc.key(first)
        lines.insert(line, " " * column + "access: public\n")
    elif isinstance(config, CommentedMap) and config:
        return None
    else:
        step = _indent_step(doc, entry, name_column)
        lines.insert(name_line + 1, " " * name_column + "config:\n" + " " * (name_column + step) + "access: public\n")
    return "".join(lines)


def _indent_step(doc: TextDoc, entry: CommentedMap, column: int) -> int:
    """How far this file indents a mapping under a key (2 when it never does)."""
    for value in entry.values():
        if isinstance(value, (CommentedMap, CommentedSeq)) and len(value):
            line, inner = (value.lc.key(next(iter(value))) if isinstance(value, CommentedMap)
                           else value.lc.item(0))
            if isinstance(value, CommentedSeq):
                dash = doc.lines[line].rfind("-", 0, inner)
                inner = dash if dash >= 0 else inner
            if inner > column:
                return inner - column
    return 2
