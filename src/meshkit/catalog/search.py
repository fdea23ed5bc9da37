"""An in-memory search index over the mesh: names, descriptions, columns and tags.

Built once per graph version (`search_index(catalog)`). Every searchable field is cut into lowercase tokens
(`agg_customer_payment_journey` gives `agg`, `customer`, `payment`, `journey` and the whole
name); each token maps to the documents that have it with the weight of the best field it
was found in. A query term matches a token exactly or as a prefix (`pay` finds `payments`,
at a lower weight); every term must match (AND), `-term` excludes, `"a phrase"` must appear
as written. Documents are ranked by the sum of their terms' weights plus a few bonuses (an
exact name, a model, a public model).
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_left
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from meshkit.catalog.index import SEARCHABLE_TYPES, Catalog
from meshkit.dbt.nodes import group_of, is_latest, version_text

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

def tokens(text: str) -> list[str]:
    """The lower-case words and numbers of `text`, as the index and queries split them."""
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
        # Prefixes expand over simple words only: a compound token (`customer_id`, a whole
        # name) is also indexed by its parts, so expanding its first part finds it too.
        self._vocabulary = sorted(t for t in self._postings if t.isalnum())
        # Per-document columns for ranking and facets without touching the documents.
        self._labels = [doc.label for doc in self.docs]
        self._static = [(3.0 if doc.resource_type == "model" else 0.0)
                        + (1.5 if doc.access == "public" else 0.0)
                        + (0.5 if doc.is_latest else 0.0) for doc in self.docs]
        self._by_name: dict[str, list[int]] = {}
        for index, doc in enumerate(self.docs):
            self._by_name.setdefault(doc.name.lower(), []).append(index)
            self._by_name.setdefault(doc.label.lower(), []).append(index)
        self._facet_columns = {facet: [getattr(doc, facet) or "" for doc in self.docs]
                               for facet in ("project", "resource_type", "access", "materialized")}
        self._term_cache: OrderedDict[str, dict[int, tuple[float, str]]] = OrderedDict()

    def _add(self, index: int, doc: SearchDoc) -> None:
        for token, weight, detail in _postings_of(doc):
            self._put(index, token, weight, detail)
        self._text.append(" ".join([doc.label, doc.description, *doc.tags,
                                    *(f"{c} {t}" for c, t in doc.columns.items())]).lower())

    def _put(self, index: int, token: str, weight: float, detail: str) -> None:
        """Document `index` matches `token` at this weight (the highest weight of a token
        wins), and its singular at a lower one."""
        bucket = self._postings.setdefault(token, {})
        previous = bucket.get(index)
        if previous is None or previous[0] < weight:
            bucket[index] = (weight, detail)
        one = singular(token)
        if one is not None:
            self._put(index, one, weight * SINGULAR_FACTOR, detail)

    # -- querying ----------------------------------------------------------------------
    def _term_matches(self, term: str) -> dict[int, tuple[float, str]]:
        """Documents matching one term (exactly, or as a prefix at a lower weight); the
        most recent terms are kept, as typing a query repeats them."""
        found = self._term_cache.get(term)
        if found is not None:
            self._term_cache.move_to_end(term)
            return found
        found = self._expand(term)
        self._term_cache[term] = found
        if len(self._term_cache) > 512:
            self._term_cache.popitem(last=False)
        return found

    def _expand(self, term: str) -> dict[int, tuple[float, str]]:
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

    def _scores(self, per_term: list[dict[int, tuple[float, str]]], exclude: list[str],
                phrases: list[str], excluded_phrases: list[str]) -> dict[int, float]:
        """Document → score: those matching every term (each term's weight plus the
        document's own), none matching an excluded term, with every phrase and none of the
        excluded ones; without terms, every document at 0 (browsing)."""
        static = self._static
        scores: dict[int, float]
        if per_term:
            ordered = sorted(per_term, key=len)          # intersect from the rarest term
            scores = {i: w + static[i] for i, (w, _) in ordered[0].items()}
            for hits in ordered[1:]:
                scores = {i: s + hits[i][0] for i, s in scores.items() if i in hits}
        else:                                  # no positive terms: browse (phrases or filters)
            scores = dict.fromkeys(range(len(self.docs)), 0.0)
        for term in exclude:
            for i in self._term_matches(term):
                scores.pop(i, None)
        for phrase in phrases:
            scores = {i: s + NAME for i, s in scores.items() if phrase in self._text[i]}
        for phrase in excluded_phrases:
            scores = {i: s for i, s in scores.items() if phrase not in self._text[i]}
        return scores

    def search(self, query: str, filters: SearchFilters | None = None, limit: int = 50,
               offset: int = 0, facets: bool = False) -> SearchResults:
        """Ranked hits; `facets=True` also counts the matches per project, type, access and
        materialization (before the filters), which costs a pass over every match."""
        filters = filters or SearchFilters()
        include, exclude, phrases, excluded_phrases = _parse(query, self._postings)
        per_term = [self._term_matches(term) for term in include]
        scores = self._scores(per_term, exclude, phrases, excluded_phrases)
        ids = list(scores)
        counts: dict[str, dict[str, int]] = {}
        if facets:
            counts = {facet: {k: n for k, n in Counter(map(column.__getitem__, ids)).items() if k}
                      for facet, column in self._facet_columns.items()}
        if any((filters.projects, filters.types, filters.access, filters.materialized,
                filters.tags, filters.groups)):
            ids = [i for i in ids if filters.accepts(self.docs[i])]
        if include:
            for i in self._by_name.get(query.strip().lower(), ()):
                if i in scores:
                    scores[i] += NAME_EXACT
        labels = self._labels
        # The best by score (ties by position), then ordered by score and label.
        best = heapq.nlargest(offset + limit, ids, key=scores.__getitem__)
        top = sorted(((-scores[i], labels[i], i) for i in best))
        hits: list[SearchHit] = []
        for negative, _, i in top[offset:]:
            doc = self.docs[i]
            matched: list[str] = []
            for term_hits in per_term:
                detail = term_hits[i][1]
                if detail not in matched:
                    matched.append(detail)
            hits.append(SearchHit(doc.id, doc.name, doc.label, doc.project, doc.resource_type,
                                  doc.access, doc.materialized, round(-negative, 2), matched,
                                  _snippet(doc, include), doc.version, doc.tags))
        return SearchResults(query, len(ids), hits, counts)


def _postings_of(doc: SearchDoc) -> Iterator[tuple[str, float, str]]:
    """What a document is found by: (token, weight, what matched) for its name, label,
    project, tags, group, columns and description."""
    yield doc.name.lower(), NAME_EXACT, "name"
    for token in tokens(doc.name):
        yield token, NAME, "name"
    yield doc.label.lower(), NAME_EXACT, "name"
    yield doc.project.lower(), PROJECT, "project"
    for tag in doc.tags:
        yield tag.lower(), TAG, f"tag {tag}"
        for token in tokens(tag):
            yield token, TAG, f"tag {tag}"
    if doc.group:
        for token in tokens(doc.group):
            yield token, GROUP, f"group {doc.group}"
    for column, text in doc.columns.items():
        yield column.lower(), COLUMN_NAME, f"column {column}"
        for token in tokens(column):
            yield token, COLUMN_NAME, f"column {column}"
        for token in tokens(text):
            yield token, COLUMN_TEXT, f"column {column}"
    for token in tokens(doc.description):
        yield token, DESCRIPTION, "description"


def _parse(query: str, vocabulary: dict | None = None) -> tuple[list[str], list[str], list[str], list[str]]:
    """Terms to include and exclude, phrases; a word that is itself a token of the index
    (`created_at`, `fct_orders`) stays whole instead of splitting at underscores."""
    include: list[str] = []
    exclude: list[str] = []
    phrases: list[str] = []
    excluded_phrases: list[str] = []
    for negated, phrase, word in _QUERY_RE.findall(query):
        if phrase:
            (excluded_phrases if negated else phrases).append(phrase.lower())
            continue
        negative = word.startswith("-") and len(word) > 1
        text = (word[1:] if negative else word).lower()
        parts = [text] if vocabulary is not None and text in vocabulary else tokens(text)
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


def search_index(catalog: Catalog) -> SearchIndex:
    """The catalog's search index (built once per graph version)."""
    return catalog.cached("search_index", lambda: SearchIndex(search_docs(catalog)))


def search(catalog: Catalog, query: str, filters: SearchFilters | None = None, limit: int = 50,
           offset: int = 0, facets: bool = False) -> SearchResults:
    """The search page's results: `limit` hits from `offset`, best first (SearchIndex.search)."""
    return search_index(catalog).search(query, filters, limit, offset, facets)


def search_docs(catalog: Catalog) -> Iterable[SearchDoc]:
    """One document per model, seed, snapshot, source and exposure of the mesh."""
    for node in catalog.graph.nodes.values():
        if node.resource_type not in SEARCHABLE_TYPES:
            continue
        ref = catalog.ref(node.unique_id)
        version = version_text(node.version)
        yield SearchDoc(node.unique_id, node.name, ref.label, ref.project, node.resource_type,
                        ref.access, node.config.materialized, group_of(node),
                        catalog.tags_of(node.unique_id), node.description,
                        {c.name: c.description for c in node.columns.values()}, version,
                        version is None or is_latest(node))
    for source_id, source in catalog.graph.sources.items():
        ref = catalog.ref(source_id)
        yield SearchDoc(source_id, ref.name, ref.label, ref.project, "source", None, None, None,
                        catalog.tags_of(source_id), source.description or source.source_description,
                        {c.name: c.description for c in source.columns.values()})
    for exposure_id, exposure in catalog.graph.exposures.items():
        ref = catalog.ref(exposure_id)
        yield SearchDoc(exposure_id, exposure.name, ref.label, ref.project, "exposure",
                        tags=catalog.tags_of(exposure_id), description=exposure.description)
