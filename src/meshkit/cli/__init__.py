"""The meshkit command line. Thin: parse options, call one function, render the result."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
from rich.console import Console

from meshkit import __version__
from meshkit.errors import MeshError

console = Console()
err_console = Console(stderr=True)


def reports_errors(command):
    """User mistakes print one clear message and exit 2; tracebacks only with --debug."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except MeshError as exc:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            err_console.print(f"[bold red]error:[/] {exc.render()}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt as exc:
            # Ctrl-C: no traceback; the command stopped what it started (dbt children).
            from meshkit.dbt.runner import stop_all

            stopped = stop_all() + getattr(exc, "stopped", 0)
            run_id = getattr(exc, "run_id", None)
            err_console.print(
                "[yellow]interrupted[/]" + (f": stopped {stopped} dbt invocation(s)" if stopped else "")
                + (f"; run {run_id} is marked interrupted (`meshkit runs show {run_id}`)"
                   if run_id is not None else ""), highlight=False)
            sys.exit(130)
    return wrapper


@click.group()
@click.version_option(__version__, prog_name="meshkit")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def main(debug: bool) -> None:
    """An open-source dbt Mesh for dbt Core."""


mesh_option = click.option("--mesh", "mesh_path", type=click.Path(path_type=Path),
                           help="mesh.yml (default: found upward from the current folder).")


def _register() -> None:
    """Each command group lives in its own module of this package; importing attaches it."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_register()

if __name__ == "__main__":
    main()
