"""Data-product scores: how far a public model has come on the eight steps of seed 003.

A public model earns one star for being public — the bare minimum of a data product —
and up to four more for the other steps that apply in this mesh:

    score = 1 + 4 × (steps passed) / (steps that apply)        (0 for a model that is not public)

The steps, in the essay's order:

1. public                 access: public
2. contract               an enforced contract (changes then go through versions and deprecation)
3. documented             a model description and a description for every declared column
4. tested                 every model upstream has data tests (and, where the run results are
                          known, none of them failed); a model with no upstream tests itself
5. metadata               an owner (group owner or meta.owner) and the meta keys the mesh requires
6. standalone             useful on its own: not a bare fact/dimension table (by its name
                          prefix), unless `meta.standalone: true` says it is
7. access                 access is granted explicitly (`grants:` with grantees)
8. open_format            an open table format (iceberg, delta, hudi) — only when the mesh
                          asks for it (`score: {open_table_format: true}`)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from meshkit.config.policy import ScoreSettings
from meshkit.dbt.artifacts import FAILED_STATUSES
from meshkit.govern.view import MeshView, Model

STEPS: tuple[tuple[str, str], ...] = (
    ("public", "Public"),
    ("contract", "Enforced contract, changed through versions"),
    ("documented", "Documented: model and every column"),
    ("tested", "Tested upstream"),
    ("metadata", "Standard metadata with an owner"),
    ("standalone", "Useful on its own"),
    ("access", "Access documented and granted"),
    ("open_format", "Open table format"),
)
OPEN_FORMATS = ("iceberg", "delta", "hudi")


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    passed: bool | None           # None: does not apply in this mesh
    detail: str = ""


@dataclass(frozen=True)
class ProductScore:
    model: Model
    score: float
    steps: tuple[Step, ...]

    @property
    def missing(self) -> list[Step]:
        return [s for s in self.steps if s.passed is False]


def score_models(view: MeshView, settings: ScoreSettings = ScoreSettings(),
                 projects: Iterable[str] = ()) -> list[ProductScore]:
    """Scores of every public model (of the given projects), best first."""
    wanted = set(projects)
    scorer = _Scorer(view, settings)
    scores = [scorer.score(m) for m in view.models.values()
              if m.is_public and (not wanted or m.project in wanted)]
    return sorted(scores, key=lambda s: (-s.score, s.model.label))


def score_model(view: MeshView, model: Model, settings: ScoreSettings = ScoreSettings()) -> ProductScore:
    """One model's data-product score against the mesh (`settings`: the weights and thresholds
    of governance.yml's `score:`)."""
    return _Scorer(view, settings).score(model)


class _Scorer:
    def __init__(self, view: MeshView, settings: ScoreSettings) -> None:
        self.view = view
        self.settings = settings
        self._failed_tests = self._failures()

    def score(self, model: Model) -> ProductScore:
        checks = {
            "public": (model.is_public, "" if model.is_public else f"access is {model.access}"),
            "contract": self._contract(model),
            "documented": self._documented(model),
            "tested": self._tested(model),
            "metadata": self._metadata(model),
            "standalone": self._standalone(model),
            "access": self._granted(model),
            "open_format": self._open_format(model),
        }
        steps = tuple(Step(sid, title, checks[sid][0], checks[sid][1]) for sid, title in STEPS)
        if not model.is_public:
            return ProductScore(model, 0.0, steps)
        later = [s for s in steps[1:] if s.passed is not None]
        passed = sum(1 for s in later if s.passed)
        score = 1 + 4 * passed / len(later) if later else 5.0
        return ProductScore(model, round(score, 1), steps)

    # -- the steps -------------------------------------------------------------------------
    def _contract(self, model: Model) -> tuple[bool, str]:
        if not model.contract_enforced:
            return False, "add `contract: {enforced: true}` with every column's data_type"
        return True, ""

    def _documented(self, model: Model) -> tuple[bool, str]:
        gaps = []
        if not model.description.strip():
            gaps.append("model description")
        if not model.columns:
            gaps.append("declared columns")
        undocumented = [c.name for c in model.columns.values() if not (c.description or "").strip()]
        if undocumented:
            gaps.append("descriptions of " + ", ".join(undocumented))
        return (not gaps, "missing " + "; ".join(gaps) if gaps else "")

    def _tested(self, model: Model) -> tuple[bool, str]:
        view = self.view
        upstream = [uid for uid in view.ancestors(model.unique_id) if uid in view.models]
        if upstream:
            untested = [uid for uid in upstream if not view.tests_of(uid)]
            if untested:
                names = ", ".join(view.label(uid) for uid in untested[:5])
                more = f" and {len(untested) - 5} more" if len(untested) > 5 else ""
                return False, f"upstream models without tests: {names}{more}"
        elif not view.tests_of(model.unique_id):
            return False, "no upstream models and no tests of its own"
        failing = [t for uid in [*upstream, model.unique_id] for t in view.tests_of(uid)
                   if t.unique_id in self._failed_tests]
        if failing:
            return False, f"{len(failing)} test(s) failed in the last published run"
        return True, ""

    def _metadata(self, model: Model) -> tuple[bool, str]:
        gaps = []
        if self.view.owner_of(model) is None:
            gaps.append("an owner (group owner or meta.owner)")
        missing = [k for k in self.settings.required_meta if k not in model.meta]
        if missing:
            gaps.append("meta keys " + ", ".join(missing))
        return (not gaps, "missing " + " and ".join(gaps) if gaps else "")

    def _standalone(self, model: Model) -> tuple[bool, str]:
        if model.meta.get("standalone") is True:
            return True, ""
        prefix = next((p for p in self.settings.bare_prefixes if model.name.startswith(p)), None)
        if prefix is not None:
            return False, (f"named like a bare fact/dimension table ({prefix}): publish a wide model "
                           "with every column users need, or set meta.standalone: true")
        return True, ""

    def _granted(self, model: Model) -> tuple[bool, str]:
        grants = model.node.config.grants or {}
        if any(grantees for grantees in grants.values()):
            return True, ""
        return False, "grant access explicitly: `grants: {select: [role]}`"

    def _open_format(self, model: Model) -> tuple[bool | None, str]:
        if not self.settings.open_table_format:
            return None, "not asked for by this mesh"
        config = model.node.config
        formats = {(config.table_format or "").lower(), (config.file_format or "").lower()}
        if formats & set(OPEN_FORMATS) or "iceberg" in (config.materialized or ""):
            return True, ""
        return False, "materialize it in an open table format (table_format: iceberg)"

    def _failures(self) -> set[str]:
        failed: set[str] = set()
        for state in self.view.graph.projects.values():
            if state.run_results is not None:
                failed.update(r.unique_id for r in state.run_results.results
                              if r.status in FAILED_STATUSES)
        return failed
