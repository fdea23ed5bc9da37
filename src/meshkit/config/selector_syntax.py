"""dbt's node selection syntax, read without a graph: the one grammar of every selector.

meshkit.graph.selection evaluates what this module reads; mesh.yml's job selectors are read
here when it loads, so a mistake is refused there, with its line.

    [@ or N+][method:]value[+N]     one term (dbt's RAW_SELECTOR_PATTERN,
                                    dbt/graph/selector_spec.py)
    a b                             union;   a,b   intersection

`method` is a selector method or (meshkit's extension) the name of a mesh project:
`finance:fct_orders` is fct_orders of project finance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from meshkit.errors import MeshError, close_matches

_TERM_RE = re.compile(r"^(?P<at>@)?(?:(?P<up_depth>\d*)(?P<up>\+))?(?P<body>[^@+]+?)"
                      r"(?:(?P<down>\+)(?P<down_depth>\d*))?$")
METHODS = ("project", "package", "group", "tag", "access", "state", "resource_type", "path",
           "fqn", "config.materialized", "materialized", "source", "exposure", "version")
_PROJECT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Characters no node name, glob or path in a selector uses (shell and SQL punctuation).
_NOT_IN_VALUE = re.compile(r"[(){}'\"`;|&<>$\\\x00-\x1f\x7f]")
_TERM_HINT = "a term is [@ or N+]method:value[+N], e.g. +finance:orders, tag:nightly+1, @stg_orders"


@dataclass(frozen=True)
class Term:
    """One selector term: a method and value, with graph operators around it."""

    text: str
    method: str | None          # None: a bare name (or a path, when it holds a `/`)
    value: str
    up: int | None = None       # ancestors to this depth (-1: all); None: no `+` before
    down: int | None = None     # descendants likewise
    at: bool = False

    @property
    def has_graph_operator(self) -> bool:
        return self.at or self.up is not None or self.down is not None

    @classmethod
    def parse(cls, text: str) -> Term:
        """Raises MeshError (without a file: the caller knows where the text came from)."""
        match = _TERM_RE.match(text)
        if not match:
            raise MeshError(f"cannot read selector '{text}'", hint=_TERM_HINT)
        if match.group("at") and (match.group("up") or match.group("down")):
            raise MeshError(f"cannot read selector '{text}': '@' cannot be combined with '+'",
                            hint="@x already selects x, its descendants and their ancestors "
                                 "(dbt refuses it too)")
        body = match.group("body")
        bad = _NOT_IN_VALUE.search(body)
        if bad:
            raise MeshError(f"selector '{text}': {bad.group()!r} cannot appear in a selector",
                            hint=f"names use letters, digits, _ . - / and the wildcards * ? [ ]; "
                                 f"{_TERM_HINT}")
        method, sep, value = body.partition(":")
        if not sep:
            method, value = (("path", body) if "/" in body else (None, body))
        elif not value:
            raise MeshError(f"selector '{text}': '{method}:' needs a value")
        elif method not in METHODS and not method.startswith("config.") \
                and not _PROJECT_RE.match(method):
            raise MeshError(f"selector '{text}': '{method}' is neither a selector method nor a "
                            "project name", hint="methods: " + ", ".join(METHODS))
        if method == "state" and value not in ("modified", "new"):
            raise MeshError(f"state:{value} is not supported; use state:modified")

        def depth(operator: str, size: str) -> int | None:
            if not match.group(operator):
                return None
            return int(match.group(size)) if match.group(size) else -1

        return cls(text, method, value, depth("up", "up_depth"), depth("down", "down_depth"),
                   bool(match.group("at")))


@dataclass(frozen=True)
class Expression:
    """Selector expressions as written: a union (spaces, or several expressions) of
    intersections (commas) of terms. Parsing checks the syntax; meaning needs a graph."""

    alternatives: tuple[tuple[Term, ...], ...] = ()

    @classmethod
    def parse(cls, expressions: Iterable[str] | None) -> Expression:
        """Raises MeshError naming the first term that cannot be read."""
        alternatives = []
        for expression in expressions or ():
            for union_part in str(expression).split():
                parts = union_part.split(",")
                if len(parts) > 1 and not all(parts):
                    raise MeshError(f"selector '{union_part}' has an empty part around a comma",
                                    hint="a,b selects what both a and b select")
                alternatives.append(tuple(Term.parse(t) for t in parts))
        return cls(tuple(alternatives))

    def __bool__(self) -> bool:
        return bool(self.alternatives)

    def terms(self) -> Iterable[Term]:
        return (term for terms in self.alternatives for term in terms)

    def refuse(self, methods: Iterable[str], where: str, hint: str | None = None) -> None:
        """Raise MeshError for the first term using a method that has no meaning where the
        expression is used (`state:` outside a build)."""
        banned = set(methods)
        for term in self.terms():
            if term.method in banned:
                raise MeshError(f"selector '{term.text}': {term.method}: has no meaning {where}",
                                hint=hint)

    def check_projects(self, projects: Iterable[str]) -> None:
        """Raise MeshError for a `name:` prefix that is neither a method nor one of these
        projects (mesh.yml's: a selector written there is checked before any graph exists)."""
        known = set(projects)
        for term in self.terms():
            method = term.method
            if method is None or method in METHODS or method.startswith("config.") \
                    or method in known:
                continue
            close = close_matches(method, known | set(METHODS))
            raise MeshError(f"selector '{term.text}': '{method}' is neither a selector method nor "
                            "a project of the mesh",
                            hint=(f"did you mean '{close[0]}:'? " if close else "")
                            + f"projects: {', '.join(sorted(known)) or 'none'}; methods: "
                            + ", ".join(METHODS))
