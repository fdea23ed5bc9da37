"""`meshkit check`, `meshkit rules`, `meshkit score`, `meshkit diff`: federated governance."""

from __future__ import annotations

import os
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import click

from meshkit.cli import console, main, mesh_option, reports_errors
from meshkit.errors import MeshError
from meshkit.status import Severity

_FORMATS = ("text", "json", "junit", "sarif", "github")
_SOURCES = ("auto", "store", "working")


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected a date like 2026-03-01") from None


as_of_option = click.option("--as-of", callback=_date, metavar="DATE",
                            help="Judge dates (deprecations, warn-then-error, exception expiry) "
                                 "as of this day instead of today.")
format_option = click.option("--format", "fmt", type=click.Choice(_FORMATS), default="text",
                             show_default=True, help="Output format.")
output_option = click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
                             help="Write the report to this file instead of standard output.")


def _mesh(mesh_path: Path | None, required: bool, manifests=()):
    """The mesh to govern by. Given manifest files, only a mesh named on purpose (--mesh or
    MESHKIT_MESH) applies: a mesh.yml that merely sits above the current folder does not.
    Governance reads artifacts only, so a mesh without a production environment will do."""
    from meshkit.config import find_mesh_file, load_mesh
    from meshkit.config.mesh import MESH_ENV_VAR

    if manifests and mesh_path is None and not os.environ.get(MESH_ENV_VAR):
        return None
    if mesh_path is None and not required and find_mesh_file() is None:
        return None
    return load_mesh(mesh_path, require_production=False)


def _policies(mesh):
    from meshkit.config.policy import Policy
    from meshkit.govern.policy import PolicySet

    if mesh is None:
        return PolicySet.from_policies(Policy("mesh"))
    return PolicySet.load(mesh.policy_doc, mesh.file,
                          {name: project.path for name, project in mesh.projects.items()})


def _width(output: Path | None) -> int | None:
    """A terminal's width for text reports; files and pipes get one line per finding (grep)."""
    return console.width if output is None and console.is_terminal else None


def _emit(text: str, output: Path | None, summary: str) -> None:
    if output is None:
        click.echo(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    text = click.unstyle(text)     # files get no terminal colours
    output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(f"{summary} · report written to {output}", err=True)


@main.command()
@mesh_option
@click.option("--env", help="Environment whose published runs to read (default: the mesh's).")
@click.option("--from", "source", type=click.Choice(_SOURCES), default="auto", show_default=True,
              help="auto: each project's target/manifest.json if present, else its last "
                   "published run; store or working: only that.")
@click.option("--manifest", "manifests", multiple=True, type=click.Path(path_type=Path),
              help="Check these manifest.json files instead (repeatable; no mesh.yml needed).")
@click.option("--project", "projects", multiple=True, help="Report only on this project (repeatable).")
@click.option("--select", "-s", "select", multiple=True,
              help="Report only on resources these selectors match, in `meshkit build -s` syntax "
                   "(+finance:orders, tag:x, project:y — which includes y's own findings).")
@click.option("--rule", "rules", multiple=True, help="Run only this rule (repeatable).")
@click.option("--baseline", type=click.Path(path_type=Path, dir_okay=False),
              help="A JSON report of an earlier check: report only findings new since then.")
@format_option
@output_option
@as_of_option
@reports_errors
def check(mesh_path, env, source, manifests, projects, select, rules, baseline, fmt, output,
          as_of) -> None:
    """Check the mesh against its governance rules; exits 1 on findings at error level."""
    from meshkit.govern.baseline import read_baseline
    from meshkit.govern.engine import CheckOptions
    from meshkit.govern.engine import check as run_check
    from meshkit.govern.loading import load_view
    from meshkit.govern.locate import add_lines
    from meshkit.govern.report import Report, RuleInfo, render

    mesh = _mesh(mesh_path, required=not manifests, manifests=manifests)
    policies = _policies(mesh)
    loaded = load_view(mesh, source=source, env=env, manifests=manifests, today=as_of)
    for project in projects:
        if project not in loaded.view.projects:
            raise MeshError(f"project '{project}' is not in the checked mesh",
                            hint="projects read: " + ", ".join(sorted(loaded.view.projects)))
    options = CheckOptions(projects=tuple(projects), select=tuple(select), rules=tuple(rules),
                           baseline=read_baseline(baseline) if baseline else None)
    if mesh is not None and not manifests and source != "store":
        _warn_stale(mesh, loaded.view)
    result = run_check(loaded.view, policies, options)
    for warning in result.unmatched:      # as `meshkit build -s` warns
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if fmt in ("text", "sarif", "github", "junit"):
        add_lines(result.findings, loaded.view.root)
    report = Report("check", result.findings,
                    [RuleInfo(r.id, r.description, r.category, r.severity) for r in result.rules],
                    result.today, loaded.origins, result.excepted, result.known, loaded.missing)
    _emit(render(report, fmt, _width(output)), output, report.summary())
    if result.failed:
        sys.exit(1)


@main.command()
@mesh_option
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON.")
@reports_errors
def rules(mesh_path, as_json) -> None:
    """List every rule (built-in and the mesh's custom ones) with its mesh-wide setting."""
    import json

    from rich.padding import Padding
    from rich.text import Text

    from meshkit.cli.render import STATUS_STYLES, Column, Section, fit_table

    mesh = _mesh(mesh_path, required=False)
    policies = _policies(mesh)
    rows = []
    for item in policies.rules:
        entry = policies.mesh.rules.get(item.id)
        severity = (entry.severity if entry and entry.severity else item.severity)
        if entry and entry.error_after:
            severity += f" → error {entry.error_after}"
        owner = policies.local_rules.get(item.id)
        rows.append({"id": item.id, "category": item.category, "default": item.severity,
                     "mesh": severity, "applies_to": item.applies_to,
                     "description": item.description,
                     "params": {k: _plain(p.default) for k, p in item.params.items()},
                     "origin": "builtin" if item.origin == "builtin" else item.origin,
                     "project": owner, "overridable": bool(entry and entry.overridable)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    columns = [Column("rule"), Column("severity"), Column("description", prose=True)]
    lines: list = []
    for category in dict.fromkeys(row["category"] for row in rows):
        lines.append(Section(category))
        lines += [[Text(row["id"]) + (Text(f" ({row['project']})", style="dim") if row["project"]
                                      else Text()), row["mesh"], row["description"]]
                  for row in rows if row["category"] == category]
    if console.width >= 110:
        console.print(fit_table(console, columns, lines, title=f"meshkit rules ({len(rows)})"))
        return
    # Narrower, a description column would be a few words a line: each goes under its rule.
    console.print(Text(f"meshkit rules ({len(rows)})", style="bold"))
    for line in lines:
        if isinstance(line, Section):
            console.print(Text(f"\n{line.title}", style="bold"))
            continue
        name, severity, description = line
        console.print(Text.assemble("  ", name, ("  " + severity,
                                                 STATUS_STYLES.get(severity.split()[0], ""))))
        console.print(Padding(Text(description, style="dim"), (0, 0, 0, 6), expand=False))


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


@main.command()
@mesh_option
@click.option("--env", help="Environment whose published runs to score (default: the mesh's).")
@click.option("--from", "source", type=click.Choice(_SOURCES), default="store", show_default=True,
              help="store: score what is published (and write the scores to the store); "
                   "auto/working: score working copies, write nothing.")
@click.option("--manifest", "manifests", multiple=True, type=click.Path(path_type=Path),
              help="Score the public models of these manifest.json files instead.")
@click.option("--project", "projects", multiple=True, help="Score only this project (repeatable).")
@click.option("--no-write", is_flag=True, help="Do not write the scores to the store.")
@click.option("--fail-under", type=click.FloatRange(0, 5), metavar="SCORE",
              help="Exit 1 if any public model scores below this (0–5).")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@reports_errors
def score(mesh_path, env, source, manifests, projects, no_write, fail_under, as_json) -> None:
    """Score every public model as a data product (0–5) and list the steps it misses."""
    import json

    from meshkit.config.policy import ScoreSettings
    from meshkit.govern.loading import load_view
    from meshkit.govern.score import score_models

    mesh = _mesh(mesh_path, required=not manifests, manifests=manifests)
    policies = _policies(mesh)
    settings = policies.mesh.score if mesh is not None else ScoreSettings()
    loaded = load_view(mesh, source=source, env=env, manifests=manifests, with_extras=True)
    scores = score_models(loaded.view, settings, projects)
    written = []
    if mesh is not None and source == "store" and not manifests and not no_write:
        written = _write_scores(mesh, env, loaded.view, scores, settings, projects)
    if as_json:
        click.echo(json.dumps([_score_json(s) for s in scores], indent=2))
    else:
        _print_scores(scores, written)
    below = [s for s in scores if fail_under is not None and s.score < fail_under]
    if below:
        click.echo(f"{len(below)} public model(s) score below {fail_under:g}: "
                   + ", ".join(f"{s.model.label} ({s.score:.1f})" for s in below), err=True)
        sys.exit(1)


def _score_json(item) -> dict:
    model = item.model
    return {"unique_id": model.unique_id, "project": model.project, "name": model.name,
            "version": model.version, "score": item.score,
            "steps": [{"id": s.id, "title": s.title, "passed": s.passed, "detail": s.detail}
                      for s in item.steps]}


def _print_scores(scores, written: list[str]) -> None:
    from meshkit.cli.render import Column, fit_table

    rows = []
    for item in scores:
        stars = "★" * int(item.score) + "☆" * (5 - int(item.score))
        missing = "\n".join(f"{s.title}: {s.detail}" if s.detail else s.title for s in item.missing)
        rows.append([item.model.label, f"{item.score:.1f} {stars}", missing or "—"])
    if not scores:
        console.print("no public models to score")
    else:
        console.print(fit_table(console, [Column("model"), Column("score"),
                                          Column("missing steps", prose=True)], rows,
                                title="data-product scores"))
    for where in written:
        console.print(f"scores written to {where}", highlight=False)


def _write_scores(mesh, env, view, scores, settings, projects) -> list[str]:
    from dataclasses import asdict

    from meshkit import __version__
    from meshkit.store.scores import ModelScore, ScoreFile, ScoreStep, write_scores
    from meshkit.store.store import Store

    store = Store(mesh.store_url)
    environment = mesh.environment(env).name
    now = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    written = []
    for project in sorted(view.projects):
        if projects and project not in projects:
            continue
        state = view.graph.projects[project]
        models = [ModelScore(s.model.unique_id, s.model.name, s.score,
                             [ScoreStep(st.id, st.title, st.passed, st.detail) for st in s.steps],
                             s.model.version)
                  for s in scores if s.model.project == project]
        record = ScoreFile(project=project, environment=environment, computed_at=now,
                           meshkit_version=__version__, models=models,
                           run_id=state.run.run_id if state.run else None,
                           method={k: list(v) if isinstance(v, tuple) else v
                                   for k, v in asdict(settings).items()})
        written.append(write_scores(store, record))
    return written


@main.command()
@mesh_option
@click.option("--against", "against_env", metavar="ENV",
              help="Compare with what this environment last published (e.g. prod).")
@click.option("--against-store", metavar="URL",
              help="Read the --against environment from this store instead of the mesh's.")
@click.option("--from", "source", type=click.Choice(_SOURCES), default="auto", show_default=True,
              help="The new side: working copies (auto: where parsed), or the store's --env.")
@click.option("--env", help="With --from store: the environment of the new side.")
@click.option("--store", "store_url", metavar="URL", help="With --from store: the new side's store.")
@click.option("--old", "old_manifests", multiple=True, type=click.Path(path_type=Path),
              help="Old manifest.json (repeatable); use with --new instead of a mesh.")
@click.option("--new", "new_manifests", multiple=True, type=click.Path(path_type=Path),
              help="New manifest.json (repeatable).")
@click.option("--project", "projects", multiple=True, help="Only changes to this project's models.")
@format_option
@output_option
@as_of_option
@reports_errors
def diff(mesh_path, against_env, against_store, source, env, store_url, old_manifests,
         new_manifests, projects, fmt, output, as_of) -> None:
    """Breaking changes to public models, and the models of other projects they break."""
    from meshkit.govern.diff import KINDS, breaking_changes
    from meshkit.govern.findings import Finding
    from meshkit.govern.loading import load_view
    from meshkit.govern.locate import add_lines
    from meshkit.govern.report import Report, RuleInfo, render

    if bool(old_manifests) != bool(new_manifests):
        raise MeshError("--old and --new go together", hint="give the manifests of both sides")
    if old_manifests:
        mesh = _mesh(mesh_path, required=False, manifests=old_manifests)
        old = load_view(mesh, manifests=old_manifests, today=as_of, with_extras=True)
        new = load_view(mesh, manifests=new_manifests, today=as_of, with_extras=True)
    else:
        if not against_env:
            raise MeshError("say what to compare with: --against ENV (or --old/--new manifests)",
                            hint="e.g. `meshkit diff --against prod` in CI")
        mesh = _mesh(mesh_path, required=True)
        if source != "store":
            _parse_stale(mesh, env or against_env)
        old = load_view(mesh, source="store", env=against_env, store_url=against_store,
                        today=as_of, with_extras=True)
        new = load_view(mesh, source=source, env=env or against_env, store_url=store_url,
                        today=as_of, with_extras=True)
    changes = breaking_changes(old.view, new.view, projects)
    findings = [Finding(rule=c.kind, category="breaking-change", severity=c.severity,
                        subject=c.unique_id, project=c.project, name=c.label, message=c.message,
                        key=c.detail, file=_file(new.view, old.view, c.unique_id),
                        downstream=list(c.downstream))
                for c in changes]
    if fmt in ("text", "sarif", "github", "junit"):
        add_lines(findings, new.view.root)
    kinds = [RuleInfo(kind, text, "breaking-change",
                      Severity.INFO if kind == "columns_not_compared" else Severity.ERROR)
             for kind, text in KINDS.items()]
    origins = {name: f"{old.origins.get(name, 'absent')} → {new.origins.get(name, 'absent')}"
               for name in sorted(set(old.origins) | set(new.origins))}
    report = Report("diff", findings, kinds, new.view.today, origins)
    _emit(render(report, fmt, _width(output)), output, report.summary())
    if any(f.severity == "error" for f in findings):
        sys.exit(1)


def _warn_stale(mesh, view) -> None:
    """Name the working copies whose code changed after the manifest this check reads."""
    from meshkit.govern.loading import stale_working_copies

    for name, changed in stale_working_copies(mesh).items():
        info = view.projects.get(name)
        if info is not None and info.from_working_copy:
            click.secho(f"warning: {_staleness(mesh, name, changed)}: this checks the code as "
                        f"last parsed (run `dbt parse` in {name} to check the current code)",
                        fg="yellow", err=True)


def _staleness(mesh, name: str, changed) -> str:
    """Why a working copy's manifest is out of date, for a warning."""
    from meshkit.govern.loading import PARTIAL_PARSE

    if changed.name == PARTIAL_PARSE and changed.parent.name == "target":
        return (f"the last `dbt parse` of {name} failed: {name}/target/manifest.json is from an "
                "earlier parse")
    where = changed.relative_to(mesh.projects[name].path).as_posix()
    return f"{name}/{where} changed after {name}/target/manifest.json was written"


def _parse_stale(mesh, env_name: str | None) -> None:
    """Parse each working copy whose code changed after its manifest: diff compares the
    current code, not what the last `dbt parse` saw."""
    from meshkit.govern.loading import stale_working_copies
    from meshkit.orchestrate.parse import parse_in_place

    stale = stale_working_copies(mesh)
    if not stale:
        return
    environment = mesh.environment(env_name)
    for name, changed in stale.items():
        click.echo(f"{_staleness(mesh, name, changed)}: running `dbt parse`", err=True)
        parse_in_place(mesh, environment, mesh.projects[name])


def _file(new, old, unique_id: str) -> str | None:
    from meshkit.govern.engine import file_of

    for view in (new, old):
        resource = view.resource(unique_id)
        if resource is not None:
            return file_of(view, resource, "governance")
    return None
