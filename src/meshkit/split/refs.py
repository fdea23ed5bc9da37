"""Rewriting `ref()` calls and macro calls in the text of dbt files, and nothing else.

A split changes two things in code: a model that now lives in another project is referred to
with dbt's two-argument form, `ref('finance', 'fct_order_revenue')`, and a macro that moved
into the mesh's internal package is called by its package name, `mesh_utils.cents_to_dollars()`
(dbt does not find a package's macros by their bare name). Everything else in a file is kept
byte for byte: only the argument list of a call changes, in the quoting style it was written.

In SQL the calls are looked for inside Jinja (`{{ … }}` and `{% … %}`) only, so a SQL function
that happens to share a macro's name is left alone; Python models use `dbt.ref(…)` anywhere;
YAML (test arguments such as `to: ref('dim_customers')`, exposure `depends_on`) is plain text
around the call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

# ref( ... ) — not preceded by a word character or a dot, except `dbt.ref(` in Python models.
_REF_RE = re.compile(r"""(?<![\w.])(?P<call>(?:dbt\.)?ref)(?P<open>\s*\()"""
                     r"""(?P<args>(?:'[^'\n]*'|"[^"\n]*"|[^()'"])*)(?P<close>\))""")
_JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_STRING_RE = re.compile(r"""^(?P<q>['"])(?P<value>[^'"]*)(?P=q)$""")


@dataclass(frozen=True)
class RefCall:
    """One ref as written: positional string arguments and keyword arguments (as text)."""

    name: str
    package: str | None
    keywords: tuple[str, ...]       # e.g. ("v=2",), kept as written
    quote: str                      # the quote character of the model name
    start: int                      # offset of the call in the text
    end: int


@dataclass
class RewriteResult:
    text: str
    rewritten: list[tuple[str, str, int]] = field(default_factory=list)   # (name, new project, line)
    dynamic: list[int] = field(default_factory=list)                      # lines of non-literal refs

    @property
    def changed(self) -> bool:
        return bool(self.rewritten)


def parse_ref(match: re.Match) -> RefCall | None:
    """The literal arguments of a ref() match, or None when they are built by Jinja."""
    parts = _split_args(match.group("args"))
    positional, keywords = [], []
    for part in parts:
        if re.match(r"^\s*\w+\s*=", part):
            keywords.append(part.strip())
        else:
            literal = _STRING_RE.match(part.strip())
            if literal is None:
                return None
            positional.append((literal.group("value"), literal.group("q")))
    if not 1 <= len(positional) <= 2:
        return None
    name, quote = positional[-1]
    package = positional[0][0] if len(positional) == 2 else None
    return RefCall(name, package, tuple(keywords), quote, match.start(), match.end())


def _split_args(args: str) -> list[str]:
    """Split an argument list on commas outside quotes and brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, None
    for char in args:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    tail = "".join(current)
    if tail.strip() or parts:
        parts.append(tail)
    return [p for p in parts if p.strip()]


# resolve(name, package) → the project the ref must name, "" for a one-argument ref, or None to
# leave the call alone (a ref to an installed package, or to something the split does not move).
Resolver = Callable[[str, str | None], str | None]


def rewrite_refs(text: str, resolve: Resolver, *, mode: str = "sql") -> RewriteResult:
    """Rewrite the refs of one file. `mode`: "sql" (Jinja regions only), "python", "yaml"."""
    result = RewriteResult(text)
    if mode == "sql":
        pieces, last = [], 0
        for region in _JINJA_RE.finditer(text):
            pieces.append(text[last:region.start()])
            pieces.append(_rewrite_span(text, region.start(), region.end(), resolve, result))
            last = region.end()
        pieces.append(text[last:])
        result.text = "".join(pieces)
    else:
        result.text = _rewrite_span(text, 0, len(text), resolve, result)
    return result


def _rewrite_span(text: str, start: int, end: int, resolve: Resolver, result: RewriteResult) -> str:
    span = text[start:end]
    out, last = [], 0
    for match in _REF_RE.finditer(span):
        call = parse_ref(match)
        line = text.count("\n", 0, start + match.start()) + 1
        if call is None:
            result.dynamic.append(line)
            continue
        target = resolve(call.name, call.package)
        if target is None or (target == (call.package or "")):
            continue
        q = call.quote
        args = [f"{q}{call.name}{q}"] if target == "" else [f"{q}{target}{q}", f"{q}{call.name}{q}"]
        written = match.group("args")
        lead = written[:len(written) - len(written.lstrip())]
        trail = written[len(written.rstrip()):]
        replacement = (f"{match.group('call')}{match.group('open')}{lead}"
                       f"{', '.join([*args, *call.keywords])}{trail}{match.group('close')}")
        out.append(span[last:match.start()])
        out.append(replacement)
        last = match.end()
        result.rewritten.append((call.name, target, line))
    out.append(span[last:])
    return "".join(out)


def find_refs(text: str) -> list[tuple[RefCall | None, int]]:
    """Every ref call of a text with its line (None for a call that is not literal)."""
    found = []
    for match in _REF_RE.finditer(text):
        found.append((parse_ref(match), text.count("\n", 0, match.start()) + 1))
    return found


def qualify_macros(text: str, package: str, names: set[str], *, jinja_only: bool = True) -> str:
    """Call `names` as `package.name(…)`, inside Jinja regions (or anywhere)."""
    if not names:
        return text
    pattern = re.compile(r"(?<![\w.])(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True))
                         + r")(?=\s*\()")
    # `{% macro name(` defines a macro: never qualify a definition.
    definition = re.compile(r"(?:macro|test|materialization)\s+$")

    def fix(span: str) -> str:
        pieces, last = [], 0
        for match in pattern.finditer(span):
            if definition.search(span[max(0, match.start() - 20):match.start()]):
                continue
            pieces.append(span[last:match.start()])
            pieces.append(f"{package}.{match.group(1)}")
            last = match.end()
        pieces.append(span[last:])
        return "".join(pieces)

    if not jinja_only:
        return fix(text)
    return _JINJA_RE.sub(lambda m: fix(m.group(0)), text)


_DISPATCH_RE = re.compile(
    r"""(?P<head>adapter\.dispatch\(\s*(?P<q>['"])(?P<name>\w+)(?P=q))"""
    r"""(?P<ns>\s*,\s*(?:macro_namespace\s*=\s*)?(?P<q2>['"])(?P<namespace>\w+)(?P=q2))?"""
    r"""(?P<close>\s*\))""")


def dispatched_names(text: str) -> set[str]:
    """Macro names a text dispatches with `adapter.dispatch('name', …)`."""
    return {m.group("name") for m in _DISPATCH_RE.finditer(text)}


def rewrite_dispatch(text: str, namespaces: dict[str | None, str], names: set[str] | None = None) -> str:
    """Point `adapter.dispatch('name'[, 'namespace'])` calls at the package holding the macro.

    `namespaces` maps a namespace as written (None: none written, so dbt searches only the
    root project and dbt itself) to the one to write; `names` limits a missing namespace to
    these dispatched names. dbt looks a namespaced dispatch up in that package (or the
    packages the root project's `dispatch:` config lists for it) — dbt/context/providers.py,
    BaseDatabaseWrapper.dispatch.
    """
    def fix(match: re.Match) -> str:
        namespace = match.group("namespace")
        if namespace is None and names is not None and match.group("name") not in names:
            return match.group(0)
        new = namespaces.get(namespace)
        if new is None or new == namespace:
            return match.group(0)
        q = match.group("q2") or match.group("q")
        if namespace is None:
            return f"{match.group('head')}, {q}{new}{q}{match.group('close')}"
        ns = match.group("ns")
        start = ns.rfind(namespace)
        return f"{match.group('head')}{ns[:start]}{new}{ns[start + len(namespace):]}{match.group('close')}"
    return _DISPATCH_RE.sub(fix, text)


def calls_in_jinja(text: str, names: set[str]) -> set[str]:
    """Which of `names` a text calls (bare) inside Jinja."""
    if not names:
        return set()
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, names)) + r")\s*\(")
    found: set[str] = set()
    for region in _JINJA_RE.finditer(text):
        found.update(m.group(1) for m in pattern.finditer(region.group(0)))
    return found


_DOC_RE = re.compile(r"""\bdoc\(\s*(?:['"]\w+['"]\s*,\s*)?['"](\w+)['"]\s*\)""")


def doc_names(text: str) -> set[str]:
    """Doc blocks a text uses with `doc('name')` (or `doc('package', 'name')`)."""
    return set(_DOC_RE.findall(text))


_DOCS_BLOCK_RE = re.compile(r"\{%-?\s*docs\s+(\w+)\s*-?%\}")


def docs_blocks(text: str) -> list[str]:
    """Names of the `{% docs name %}` blocks a markdown file defines."""
    return _DOCS_BLOCK_RE.findall(text)


def set_sql_access(text: str, access: str) -> tuple[str, bool]:
    """Change `access='…'` in a model's `config(…)` call, if it sets one there."""
    pattern = re.compile(r"""(\bconfig\s*\((?:[^()]|\([^()]*\))*?\baccess\s*=\s*)(['"])(\w+)\2""", re.DOTALL)
    match = pattern.search(text)
    if match is None or match.group(3) == access:
        return text, False
    q = match.group(2)
    return text[:match.start()] + f"{match.group(1)}{q}{access}{q}" + text[match.end():], True
