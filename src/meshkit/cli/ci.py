"""`meshkit ci`, `meshkit ci ls`, `meshkit ci cleanup`: mesh CI for pull requests."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import click

from meshkit.cli import err_console, main, mesh_option, reports_errors
from meshkit.config import load_mesh
from meshkit.errors import MeshError

_AGE_RE = re.compile(r"^(\d+)([smhdw])$")
_AGE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _pr_from_environment() -> str | None:
    """The PR number CI providers expose: GitHub Actions, GitLab, Buildkite, or MESHKIT_PR."""
    ref = os.environ.get("GITHUB_REF", "")
    match = re.match(r"^refs/pull/(\d+)/", ref)
    for value in (os.environ.get("MESHKIT_PR"), match.group(1) if match else None,
                  os.environ.get("CI_MERGE_REQUEST_IID"),
                  os.environ.get("BUILDKITE_PULL_REQUEST")):
        if value and value != "false":
            return value
    return None


@main.group(invoke_without_command=True)
@mesh_option
@click.option("--pr", help="Pull request number (default: from GITHUB_REF, CI_MERGE_REQUEST_IID, "
                           "BUILDKITE_PULL_REQUEST or MESHKIT_PR).")
@click.option("--env", help="The production environment to compare with and defer to "
                            "(default: the mesh's default).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json", "github"]),
              default="markdown", show_default=True, help="What to print on stdout.")
@click.option("--output-dir", type=click.Path(path_type=Path),
              help="Also write report.md, report.json and annotations.txt here.")
@click.option("--no-compare", is_flag=True, help="Build and test only; skip compare changes.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="dbt invocations that may run at once (projects whose files do not collide).")
@click.option("--vars", "dbt_vars", metavar="YAML",
              help="dbt project variables for every dbt the PR's build starts, as dbt's --vars "
                   "takes them.")
@click.option("--quiet", "-q", is_flag=True, help="Do not echo dbt's output (on stderr).")
@click.pass_context
@reports_errors
def ci(ctx, mesh_path, pr, env, fmt, output_dir, no_compare, workers, dbt_vars, quiet) -> None:
    """Build a pull request's changed models and their downstream in every project into
    PR-scoped relations, test them and compare them with production."""
    if ctx.invoked_subcommand is not None:
        return
    from meshkit.ci.build import CiOptions, run_ci
    from meshkit.ci.report import Report, as_github, as_json, as_markdown
    from meshkit.config.dbt_vars import DbtVars

    mesh = load_mesh(mesh_path)
    variables = DbtVars.parse(dbt_vars)
    pr = pr or _pr_from_environment()
    if not pr:
        raise MeshError("which pull request? pass --pr NUMBER",
                        hint="in GitHub Actions it is read from GITHUB_REF on pull_request events")
    echo = None if quiet else (lambda project, line: err_console.print(
        f"{project:>12} │ {line}", highlight=False, markup=False, soft_wrap=True))
    result = run_ci(mesh, CiOptions(pr=pr, env=env, workers=workers, compare=not no_compare,
                                     vars=variables), echo)
    report = Report(result, _breaking(mesh, result))
    texts = {"markdown": as_markdown(report), "json": json.dumps(as_json(report), indent=2),
             "github": as_github(report)}
    if output_dir:
        output_dir.mkdir(parents=True, exist_ok=True)
        for name, key in (("report.md", "markdown"), ("report.json", "json"),
                          ("annotations.txt", "github")):
            (output_dir / name).write_text(texts[key], encoding="utf-8")
    click.echo(texts[fmt])
    if report.failed:
        sys.exit(1)


def _breaking(mesh, result):
    """`meshkit diff` between production's store and the PR's working copies."""
    from meshkit.ci.report import Breaking
    from meshkit.govern.diff import breaking_changes
    from meshkit.govern.loading import load_view

    if result.changes.empty:
        return []
    old = load_view(mesh, source="store", env=result.environment, with_extras=True)
    new = load_view(mesh, manifests=list(result.manifests.values()), with_extras=True)
    return [Breaking(c.kind, c.label, c.severity, c.message) for c in
            breaking_changes(old.view, new.view, result.changes.projects)]


@ci.command("ls")
@mesh_option
@click.option("--env", help="Environment whose warehouses to look in (default: the mesh's).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def ls(mesh_path, env, as_json) -> None:
    """List the PR schemas (DuckDB: PR files) in the mesh's warehouses."""
    from meshkit.ci.cleanup import list_pr_relations

    mesh = load_mesh(mesh_path)
    relations = list_pr_relations(mesh, mesh.environment(env))
    if as_json:
        click.echo(json.dumps([vars(r) for r in relations], indent=2))
        return
    for r in relations:
        click.echo(f"pr {r.pr}\t{r.kind}\t{r.name}")
    if not relations:
        click.echo("no PR relations")


@ci.command()
@mesh_option
@click.option("--env", help="Environment whose warehouses to clean (default: the mesh's).")
@click.option("--pr", help="Drop this pull request's relations.")
@click.option("--older-than", help="Drop the relations of PRs last built longer ago, e.g. 7d, 12h.")
@reports_errors
def cleanup(mesh_path, env, pr, older_than) -> None:
    """Drop a pull request's PR schemas (DuckDB: PR files), or every PR's older than an age."""
    from meshkit.ci.cleanup import drop_pr_relations, list_pr_relations
    from meshkit.ci.cleanup import older_than as aged
    from meshkit.ci.scope import PrScope

    if bool(pr) == bool(older_than):
        raise MeshError("say which relations to drop: --pr NUMBER or --older-than AGE",
                        hint="e.g. `meshkit ci cleanup --pr 123` when the PR closes")
    mesh = load_mesh(mesh_path)
    environment = mesh.environment(env)
    relations = list_pr_relations(mesh, environment)
    if pr:
        owner = PrScope(pr).pr
        chosen = [r for r in relations if r.pr == owner]
    else:
        chosen = aged(relations, _seconds(older_than))
    drop_pr_relations(mesh, environment, chosen)
    for r in chosen:
        click.echo(f"dropped pr {r.pr} {r.kind} {r.name}")
    if not chosen:
        click.echo("nothing to drop")


def _seconds(age: str) -> float:
    match = _AGE_RE.match(age.strip())
    if not match:
        raise MeshError(f"--older-than {age!r} is not an age", hint="e.g. 7d, 12h, 30m, 2w")
    return int(match.group(1)) * _AGE_SECONDS[match.group(2)]
