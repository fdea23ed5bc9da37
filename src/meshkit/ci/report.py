"""The mesh CI report, as JSON, as Markdown for a pull request comment, and as GitHub
workflow annotations (`::error file=…::…`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from meshkit.ci.build import CiResult
from meshkit.ci.compare import Comparison
from meshkit.ci.outcome import Outcome
from meshkit.orchestrate.state import label
from meshkit.status import Severity


@dataclass(frozen=True)
class Breaking:
    """One breaking change (govern.diff.BreakingChange, flattened)."""

    kind: str
    model: str
    severity: Severity
    message: str
    file: str | None = None


@dataclass
class Report:
    result: CiResult
    breaking: list[Breaking] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.result.failed or any(b.severity == Severity.ERROR for b in self.breaking)


def as_json(report: Report) -> dict:
    """The CI report as JSON data: PR, environment, status (passed, failed, noop), projects,
    changed models, what was built and tested, and each comparison with production."""
    result, graph = report.result, report.result.graph
    return {
        "pr": result.pr, "environment": result.environment,
        "status": "failed" if report.failed else ("noop" if result.changes.empty else "passed"),
        "projects": result.changes.projects,
        "changed": [{"unique_id": uid, "model": label(graph, uid), "project": graph.owner[uid],
                     "why": why.value} for uid, why in result.changes.reached.items()],
        "breaking_changes": [vars(b) for b in report.breaking],
        "nodes": [{"unique_id": r.unique_id, "name": _name(result, r.unique_id),
                   "project": r.project, "resource_type": r.unique_id.split(".")[0],
                   "status": r.outcome.value, "message": r.message}
                  for r in result.nodes.values()],
        "relations": {p: {"schema": t.schema, "database": t.database}
                      for p, t in result.targets.items()},
        "comparisons": [_comparison_json(c) for c in result.comparisons],
    }


def _comparison_json(c: Comparison) -> dict:
    return {"unique_id": c.unique_id, "model": c.label, "primary_key": c.key,
            "rows_before": c.rows_before, "rows_after": c.rows_after, "rows_added": c.added,
            "rows_removed": c.removed, "rows_changed": c.changed,
            "columns_added": c.columns_added, "columns_removed": c.columns_removed,
            "columns_changed": [{"column": n, "before": b, "after": a}
                                for n, b, a in c.columns_changed],
            "sample": c.sample, "note": c.note}


def as_markdown(report: Report) -> str:
    """The CI report as the Markdown comment a pull request shows."""
    result = report.result
    head = "❌ failed" if report.failed else "✅ passed"
    if result.changes.empty:
        return f"## meshkit CI · PR {result.pr}\n\nNo model changed against `{result.environment}`."
    lines = [f"## meshkit CI · PR {result.pr}: {head}", "",
             f"Changed against `{result.environment}`: "
             + ", ".join(f"`{label(result.graph, uid)}`" for uid in result.changes.modified)
             + f" · projects built: {', '.join(result.changes.projects)}", ""]
    if report.breaking:
        lines += ["### Breaking changes", ""]
        lines += [f"- **{b.severity}** `{b.model}`: {b.message}" for b in report.breaking] + [""]
    lines += _nodes_table(result)
    if result.comparisons:
        lines += ["### Compare changes", "",
                  "| model | key | rows before → after | added | removed | changed | columns |",
                  "|---|---|---|---|---|---|---|"]
        lines += [_comparison_row(c) for c in result.comparisons] + [""]
        for c in result.comparisons:
            lines += _sample(c)
    return "\n".join(lines).rstrip() + "\n"


def _nodes_table(result: CiResult) -> list[str]:
    lines = ["### Built and tested", "", "| project | node | status | message |", "|---|---|---|---|"]
    for r in sorted(result.nodes.values(), key=lambda r: (r.project, r.outcome.failed is False,
                                                          r.unique_id)):
        icon = "❌" if r.outcome.failed else ("⚠️" if r.outcome is Outcome.WARN else "✅")
        message = (r.message or "").replace("|", "\\|").replace("\n", " ")[:200]
        lines.append(f"| {r.project} | `{_name(result, r.unique_id)}` | {icon} {r.outcome.value} "
                     f"| {message} |")
    return lines + [""]


def _comparison_row(c: Comparison) -> str:
    columns = [f"+{n}" for n in c.columns_added] + [f"−{n}" for n in c.columns_removed] + \
        [f"{n}: {b} → {a}" for n, b, a in c.columns_changed]
    def count(value):
        return "–" if value is None else str(value)
    key = ", ".join(c.key) if c.key else "(whole rows)"
    return (f"| `{c.label}` | {key} | {count(c.rows_before)} → {count(c.rows_after)} | "
            f"{count(c.added)} | {count(c.removed)} | {count(c.changed)} | "
            f"{'; '.join(columns) or c.note or 'same'} |")


def _sample(c: Comparison) -> list[str]:
    if not c.sample:
        return []
    lines = [f"<details><summary>{c.label}: sample</summary>", ""]
    for row in c.sample:
        key = ", ".join(f"{k}={v}" for k, v in row["key"].items())
        diffs = "; ".join(f"{col}: {b} → {a}" for col, (b, a) in row["columns"].items())
        lines.append(f"- {row['change']} {key}" + (f": {diffs}" if diffs else ""))
    return lines + ["", "</details>", ""]


def as_github(report: Report) -> str:
    """One workflow command per failed node, breaking change and changed model."""
    result, lines = report.result, []
    for b in report.breaking:
        where = f" file={b.file}," if b.file else " "
        level = "error" if b.severity == Severity.ERROR else "warning"
        lines.append(f"::{level}{where}title=breaking change {b.kind}::{b.model}: {b.message}")
    for r in result.nodes.values():
        if r.outcome.failed or r.outcome is Outcome.WARN:
            level = "warning" if r.outcome is Outcome.WARN else "error"
            lines.append(f"::{level} title={r.project} {r.outcome.value}::"
                         f"{_name(result, r.unique_id)}: {_one_line(r.message)}")
    for c in result.comparisons:
        if not c.identical:
            lines.append(f"::notice title=compare {c.label}::{_summary(c)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _summary(c: Comparison) -> str:
    if c.note and c.added is None:
        return c.note
    return (f"rows {c.rows_before} → {c.rows_after}: {c.added} added, {c.removed} removed, "
            f"{'–' if c.changed is None else c.changed} changed; columns +{len(c.columns_added)} "
            f"−{len(c.columns_removed)} ~{len(c.columns_changed)}")


def _name(result: CiResult, uid: str) -> str:
    node = result.graph.nodes.get(uid)
    if node is None:
        return uid
    if node.resource_type == "test":
        return f"{result.graph.owner.get(uid, '')}.{node.name}"
    return label(result.graph, uid)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())[:300]
