"""An in-memory search index over the mesh: names, descriptions, columns and tags.

Built once per graph version. Every searchable field is cut into lowercase tokens
(`agg_customer_payment_journey` gives `agg`, `customer`, `payment`, `journey` and the whole
name); each token maps to the documents that have it with the weight of the best field it
was found in. A query term matches a token exactly or as a prefix (`pay` finds `payments`,
at a lower weight); every term must match (AND), `-term` excludes, `"a phrase"` must appear
as written. Documents are ranked by the sum of their terms' weights plus a few bonuses (an
exact name, a model, a public model).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Iterable

_TOKEN_RE = re.compile(r"[a-z0-9]+")
_QUERY_RE = re.compile(r'(-?)"([^"]*)"|(\S+)')

# Field weights: where a term is found matters more than how often.
NAME_EXACT = 60.0
NAME = 24.0
LABEL = 20.0
TAG = 12.0
COLUMN_NAME = 9.0
GROUP = 6.0
PROJECT = 5.0
COLUMN_TEXT = 2.0
DESCRIPTION = 3.0
PREFIX_FACTOR = 0.55
SINGULAR_FACTOR = 0.9
MAX_PREFIX_EXPANSION = 400

FIELD_NAMES = {NAME_EXACT: "name", NAME: "name", LABEL: "name", TAG: "tag", COLUMN_NAME: "column",
               GROUP: "group", PROJECT: "project", COLUMN_TEXT: "column description",
               DESCRIPTION: "description"}


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


def singular(token: str) -> str | None:
    """`payments` → `payment`: a query in the singular meets a plural name at full weight."""
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return None


@dataclass
class SearchDoc:
    id: str
    name: str
    label: str
    project: str
    resource_type: str
    access: str | None = None
    materialized: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)   # name → description
    version: str | None = None
    is_latest: bool = True


@dataclass
class SearchHit:
    id: str
    name: str
    label: str
    project: str
    resource_type: str
    access: str | None
    materialized: str | None
    score: float
    matched: list[str]           # e.g. ["name", "column payment_method"]
    snippet: str
    version: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class SearchFilters:
    projects: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    access: frozenset[str] = frozenset()
    materialized: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @classmethod
    def of(cls, **values: Iterable[str] | None) -> "SearchFilters":
        return cls(**{k: frozenset(v for v in (values.get(k) or ()) if v)
                      for k in ("projects", "types", "access", "materialized", "tags", "groups")})

    def accepts(self, doc: SearchDoc) -> bool:
        return ((not self.projects or doc.project in self.projects)
                and (not self.types or doc.resource_type in self.types)
                and (not self.access or (doc.access or "") in self.access)
                and (not self.materialized or (doc.materialized or "") in self.materialized)
                and (not self.groups or (doc.group or "") in self.groups)
                and (not self.tags or bool(self.tags.intersection(doc.tags))))


@dataclass
class SearchResults:
    query: str
    total: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]


class SearchIndex:
    def __init__(self, docs: Iterable[SearchDoc]) -> None:
        self.docs: list[SearchDoc] = list(docs)
        # token → {doc index: (weight, field detail)}
        self._postings: dict[str, dict[int, tuple[float, str]]] = {}
        self._text: list[str] = []
        for index, doc in enumerate(self.docs):
            self._add(index, doc)
        self._vocabulary = sorted(self._postings)

    def _add(self, index: int, doc: SearchDoc) -> None:
        def put(token: str, weight: float, detail: str) -> None:
            bucket = self._postings.setdefault(token, {})
            previous = bucket.get(index)
            if previous is None or previous[0] < weight:
                bucket[index] = (weight, detail)
            one = singular(token)
            if one is not None:
                put(one, weight * SINGULAR_FACTOR, detail)

        name = doc.name.lower()
        put(name, NAME_EXACT, "name")
        for token in tokens(doc.name):
            put(token, NAME, "name")
        put(doc.label.lower(), NAME_EXACT, "name")
        put(doc.project.lower(), PROJECT, "project")
        for tag in doc.tags:
            put(tag.lower(), TAG, f"tag {tag}")
            for token in tokens(tag):
                put(token, TAG, f"tag {tag}")
        if doc.group:
            for token in tokens(doc.group):
                put(token, GROUP, f"group {doc.group}")
        for column, text in doc.columns.items():
            put(column.lower(), COLUMN_NAME, f"column {column}")
            for token in tokens(column):
                put(token, COLUMN_NAME, f"column {column}")
            for token in tokens(text):
                put(token, COLUMN_TEXT, f"column {column}")
        for token in tokens(doc.description):
            put(token, DESCRIPTION, "description")
        self._text.append(" ".join([doc.label, doc.description, *doc.tags,
                                    *(f"{c} {t}" for c, t in doc.columns.items())]).lower())

    # -- querying ----------------------------------------------------------------------
    def _term_matches(self, term: str) -> dict[int, tuple[float, str]]:
        """Documents matching one term (exactly, or as a prefix at a lower weight)."""
        found: dict[int, tuple[float, str]] = dict(self._postings.get(term, {}))
        if len(term) < 2:
            return found
        start = bisect_left(self._vocabulary, term)
        expanded = 0
        for position in range(start, len(self._vocabulary)):
            token = self._vocabulary[position]
            if not token.startswith(term):
                break
            if token == term:
                continue
            expanded += 1
            if expanded > MAX_PREFIX_EXPANSION:
                break
            for index, (weight, detail) in self._postings[token].items():
                weight *= PREFIX_FACTOR
                previous = found.get(index)
                if previous is None or previous[0] < weight:
                    found[index] = (weight, detail)
        return found

    def search(self, query: str, filters: SearchFilters | None = None, limit: int = 50,
               offset: int = 0) -> SearchResults:
        filters = filters or SearchFilters()
        include, exclude, phrases, excluded_phrases = _parse(query)
        scores: dict[int, float] | None = None
        matched: dict[int, list[str]] = {}
        for term in include:
            hits = self._term_matches(term)
            if scores is None:
                scores = {i: w for i, (w, _) in hits.items()}
            else:
                scores = {i: s + hits[i][0] for i, s in scores.items() if i in hits}
            for i in scores:
                detail = hits[i][1]
                if detail not in matched.setdefault(i, []):
                    matched[i].append(detail)
            if not scores:
                break
        if scores is None:                     # no positive terms: browse (phrases or filters)
            scores = {i: 0.0 for i in range(len(self.docs))}
        for term in exclude:
            for i in self._term_matches(term):
                scores.pop(i, None)
        for phrase in phrases:
            scores = {i: s + NAME for i, s in scores.items() if phrase in self._text[i]}
        for phrase in excluded_phrases:
            scores = {i: s for i, s in scores.items() if phrase not in self._text[i]}

        facets: dict[str, dict[str, int]] = {"project": {}, "resource_type": {}, "access": {},
                                             "materialized": {}}
        ranked: list[tuple[float, str, int]] = []
        lowered = query.strip().lower()
        for i, score in scores.items():
            doc = self.docs[i]
            for facet in facets:
                value = getattr(doc, facet) or ""
                if value:
                    facets[facet][value] = facets[facet].get(value, 0) + 1
            if not filters.accepts(doc):
                continue
            if include:
                if doc.name.lower() == lowered or doc.label.lower() == lowered:
                    score += NAME_EXACT
                elif doc.name.lower().startswith(lowered):
                    score += NAME / 2
                score += 3.0 if doc.resource_type == "model" else 0.0
                score += 1.5 if doc.access == "public" else 0.0
                score += 0.5 if doc.is_latest else 0.0
            ranked.append((-score, doc.label, i))
        ranked.sort()
        hits = []
        for negative, _, i in ranked[offset:offset + limit]:
            doc = self.docs[i]
            hits.append(SearchHit(doc.id, doc.name, doc.label, doc.project, doc.resource_type,
                                  doc.access, doc.materialized, round(-negative, 2),
                                  matched.get(i, []), _snippet(doc, include), doc.version,
                                  doc.tags))
        return SearchResults(query, len(ranked), hits, facets)


def _parse(query: str) -> tuple[list[str], list[str], list[str], list[str]]:
    include: list[str] = []
    exclude: list[str] = []
    phrases: list[str] = []
    excluded_phrases: list[str] = []
    for negated, phrase, word in _QUERY_RE.findall(query):
        if phrase:
            (excluded_phrases if negated else phrases).append(phrase.lower())
            continue
        negative = word.startswith("-") and len(word) > 1
        parts = tokens(word[1:] if negative else word)
        if negative:
            exclude.extend(parts)
        else:
            include.extend(p for p in parts if p not in include)
    return include, exclude, phrases, excluded_phrases


def _snippet(doc: SearchDoc, terms: list[str], width: int = 160) -> str:
    text = " ".join(doc.description.split())
    if not text:
        return ""
    lowered = text.lower()
    at = min((p for p in (lowered.find(t) for t in terms) if p >= 0), default=0)
    start = max(0, at - width // 3)
    piece = text[start:start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(text) else "")
