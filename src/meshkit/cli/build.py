"""`meshkit build`, `meshkit plan` and `meshkit publish`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.text import Text

from meshkit.cli import console, main, mesh_option, reports_errors
from meshkit.config import load_mesh
from meshkit.status import NodeStatus, RunStatus


def build_options(func):
    """Options shared by `build` and `plan`: dbt's selection syntax, extended to the mesh."""
    options = [
        mesh_option,
        click.option("--select", "-s", "select", multiple=True,
                     help="Mesh selection, e.g. +finance:agg_customer_payment_journey, "
                          "analytics:fct_orders+, project:finance, tag:x, state:modified."),
        click.option("--exclude", multiple=True, help="Nodes to leave out (same syntax)."),
        click.option("--project", "projects", multiple=True, help="Only this project (repeatable)."),
        click.option("--env", help="Environment from mesh.yml (default: the mesh's default)."),
        click.option("--full", is_flag=True, help="Ignore state: rebuild everything selected."),
        click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
                     help="dbt invocations that may run at once."),
        click.option("--verify-relations", is_flag=True,
                     help="Ask the warehouse (through dbt's adapter) whether reused models' "
                          "relations still exist; rebuild the missing ones."),
        click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON."),
        click.option("--no-wait", is_flag=True,
                     help="If another build holds one of these projects, stop instead of waiting."),
        click.option("--vars", "dbt_vars", metavar="YAML",
                     help="dbt project variables, as dbt's --vars takes them, for every dbt the "
                          "build starts: --vars '{load_source_data: true}'."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(select, exclude, projects, env, full, workers, verify_relations, no_wait, dbt_vars,
             full_refresh=False):
    from meshkit.cli import err_console
    from meshkit.config.dbt_vars import DbtVars
    from meshkit.orchestrate.build import BuildOptions

    return BuildOptions(env=env, select=list(select), exclude=list(exclude), projects=list(projects),
                        full=full, full_refresh=full_refresh, workers=workers,
                        verify_relations=verify_relations, wait=not no_wait,
                        vars=DbtVars.parse(dbt_vars),
                        on_wait=lambda text: err_console.print(text, highlight=False, soft_wrap=True))


@main.command()
@build_options
@click.option("--full-refresh", is_flag=True, help="Pass --full-refresh to dbt.")
@click.option("--docs", "generate_docs", is_flag=True,
              help="Generate docs on run: publish each project's catalog.json (column types).")
@click.option("--quiet", "-q", is_flag=True,
              help="Do not echo dbt's output (progress and the summary still show).")
@reports_errors
def build(mesh_path, select, exclude, projects, env, full, workers, verify_relations, as_json,
          no_wait, dbt_vars, full_refresh, generate_docs, quiet):
    """Build what changed across the mesh, in waves, and publish each project's run."""
    from meshkit.cli.progress import BuildProgress
    from meshkit.orchestrate.build import build_mesh

    options = _options(select, exclude, projects, env, full, workers, verify_relations, no_wait,
                       dbt_vars, full_refresh)
    mesh = load_mesh(mesh_path)
    options.generate_docs = generate_docs
    if as_json:
        report = build_mesh(mesh, options)
    else:
        with BuildProgress(console, echo_dbt=not quiet) as progress:
            report = build_mesh(mesh, options, progress.line, on_event=progress.event)
    if as_json:
        click.echo(json.dumps(_report_json(report), indent=2))
    else:
        _print_report(report)
    if report.status == RunStatus.ERROR:
        sys.exit(1)


@main.command()
@build_options
@reports_errors
def plan(mesh_path, select, exclude, projects, env, full, workers, verify_relations, as_json,
         no_wait, dbt_vars):
    """Show the waves and each model's decision, without running anything."""
    from meshkit.orchestrate.build import build_mesh

    options = _options(select, exclude, projects, env, full, workers, verify_relations, no_wait,
                       dbt_vars)
    report = build_mesh(load_mesh(mesh_path), options, None, dry_run=True)
    if as_json:
        click.echo(json.dumps(_report_json(report), indent=2))
    else:
        _print_report(report)


def _report_json(report) -> dict:
    from meshkit.orchestrate.reasons import describe
    from meshkit.orchestrate.state import label

    graph = report.plan.graph
    return {
        "run_id": report.run_id, "status": report.status, "environment": report.plan.environment,
        "waves": [[{"project": u.project, "nodes": [label(graph, n) for n in u.nodes],
                    "tests": [graph.nodes[t].name for t in u.tests]} for u in wave]
                  for wave in report.plan.waves()],
        "nodes": [{"node": label(graph, uid), "unique_id": uid, "project": graph.owner[uid],
                   "decision": "rebuild" if d.rebuild else "reuse", "reason": describe(d.reason),
                   "reason_kind": d.reason.kind, "reason_details": d.reason.facts() or None,
                   "status": report.node_status(uid),
                   "message": report.executor.outcomes[uid].message
                   if report.executor and uid in report.executor.outcomes else None}
                  for uid, d in report.plan.decisions.items()],
        "failed_unit_tests": [{"unit_test": name, "status": o.status, "message": o.message}
                              for name, o in (report.executor.failed_unit_tests()
                                              if report.executor else [])],
        "published": {u.unit.project: u.published for u in report.units if u.published},
        "warnings": report.plan.unmatched + report.plan.warnings
                    + [f"{u.unit.project}: {u.warning}" for u in report.units if u.warning],
        "parsed": {name: ("cache" if p.from_cache else "dbt parse") for name, p in report.parsed.items()},
    }


def _print_report(report) -> None:
    _print_plan(report.plan, report)
    failures = _print_nodes(report)
    if failures:
        from rich.padding import Padding

        console.print(Text(f"failed ({len(failures)}); dbt's full errors: `meshkit runs show "
                           f"{report.run_id} --log`", style="red"))
        for name, message in failures:
            console.print(Padding(Text.assemble("✗ ", (name, "bold"), ": ", message), (0, 0, 0, 2),
                                  expand=False))
    for unit in report.units:
        if unit.published:
            console.print(f"  published {unit.unit.project}: run {unit.published}", highlight=False)
        if unit.error:
            console.print(Text(f"  {unit.unit.project}: {unit.error}", style="red"))
        if unit.warning:
            console.print(Text(f"  {unit.unit.project}: {unit.warning}", style="yellow"))
    if report.run_id is not None:
        console.print(f"[bold]{report.status}[/] · `meshkit runs show {report.run_id}` for details",
                      highlight=False)


def _print_plan(plan, report) -> None:
    """The headline, the plan's warnings and its waves of projects."""
    title = "plan" if report.run_id is None else f"run {report.run_id}"
    parsed = sum(1 for p in report.parsed.values() if not p.from_cache)
    console.print(f"[bold]meshkit {title}[/] · environment {plan.environment} · "
                  f"{len(report.parsed)} projects ({parsed} parsed, "
                  f"{len(report.parsed) - parsed} unchanged)", highlight=False)
    for warning in plan.unmatched + plan.warnings:
        console.print(Text.assemble(("  warning: ", "yellow"), warning))
    for index, wave in enumerate(plan.waves(), start=1):
        units = ", ".join(f"{u.project} ({len(u.nodes)}"
                          + (f" + {len(u.tests)} deferred test{'s' * (len(u.tests) > 1)}" if u.tests else "")
                          + ")" for u in wave)
        console.print(f"  wave {index}: {units}", highlight=False)
    if not plan.selected:
        console.print("  nothing to build: the selection matches no model, seed or snapshot",
                      highlight=False)
    elif plan.noop:
        console.print("  nothing to build: every selected model is up to date", highlight=False)


def _print_nodes(report) -> list[tuple[str, str]]:
    """A row per node built (every selected node when there are at most 40); returns the
    failures as (node, short error)."""
    from meshkit.cli.render import Column, fit_table, short_error, status_text
    from meshkit.orchestrate.state import label

    plan, graph = report.plan, report.plan.graph
    shown = [uid for uid in plan.selected if plan.decisions[uid].rebuild or len(plan.selected) <= 40]
    failures = []
    rows = []
    for uid in shown:
        status = report.node_status(uid)
        reason = plan.decisions[uid].label
        outcome = report.executor.outcomes.get(uid) if report.executor else None
        if outcome and outcome.message:
            if status == NodeStatus.SKIPPED:
                reason = outcome.message
            else:
                failures.append((label(graph, uid), short_error(outcome.message)))
        rows.append([label(graph, uid), status_text(status), reason])
    failures += _failed_unit_tests(report)
    if shown:
        console.print(fit_table(console, [Column("node"), Column("status"),
                                          Column("reason", prose=True)], rows))
    hidden = len(plan.selected) - len(shown)
    if hidden:
        console.print(f"  … and {hidden} reused models (see `meshkit runs show`)", highlight=False)
    return failures


def _failed_unit_tests(report) -> list[tuple[str, str]]:
    """(unit test in words, dbt's message cut short): their models were skipped, so the
    models' rows do not say why."""
    from meshkit.cli.render import short_error

    failed = report.executor.failed_unit_tests() if report.executor else []
    return [(name, short_error(outcome.message or outcome.status)) for name, outcome in failed]


@main.command()
@mesh_option
@click.option("--project-dir", type=click.Path(path_type=Path, file_okay=False), default=".",
              help="The dbt project whose artifacts to publish (default: current folder).")
@click.option("--target-path", type=click.Path(path_type=Path, file_okay=False),
              help="Where dbt wrote its artifacts (default: PROJECT_DIR/target).")
@click.option("--env", help="Environment to publish to (default: the mesh's default).")
@click.option("--allow-failures", is_flag=True, help="Publish even if the run had failures.")
@reports_errors
def publish(mesh_path, project_dir, target_path, env, allow_failures) -> None:
    """Publish a project's artifacts (after a plain `dbt build`) to the mesh's store."""
    import shlex

    from meshkit.orchestrate.published import record_publish
    from meshkit.store.publish import pointer_warning, publish_artifacts
    from meshkit.store.store import Store

    mesh = load_mesh(mesh_path or _mesh_near(project_dir))
    environment = mesh.environment(env)
    target_dir = target_path or project_dir / "target"
    store = Store(mesh.store_url)
    record = publish_artifacts(store, target_dir, environment.name,
                               allow_failures=allow_failures, project_dir=project_dir)
    parsed = " after a parse: nothing built" if record.status == RunStatus.PARSED else ""
    console.print(f"published [bold]{record.project}[/] to {environment.name}: run {record.run_id} "
                  f"({record.public_models} public of {record.models} models{parsed})",
                  highlight=False, soft_wrap=True)
    if record.not_built:
        names = ", ".join(uid.split(".", 2)[-1] for uid in record.not_built)
        console.print(f"  [yellow]not built yet:[/] {names} — consumers cannot read "
                      f"{'them' if len(record.not_built) > 1 else 'it'} until a build publishes",
                      highlight=False, soft_wrap=True)
    if warning := pointer_warning(store, record):
        console.print(f"  [yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    record_publish(mesh, store, record, shlex.join(["meshkit", *sys.argv[1:]]))


def _mesh_near(project_dir: Path) -> Path | None:
    from meshkit.config import find_mesh_file

    return find_mesh_file(project_dir) or find_mesh_file()
