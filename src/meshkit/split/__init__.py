"""Turn one dbt project into a mesh: one project per group (or a selection split off).

    source  = load_source(project_dir)            # dbt parse into a temporary folder
    plan    = make_plan(source, SplitOptions())   # where everything goes, what it requires
    files   = render(plan, out)                   # every file of the new mesh, in memory
    write_mesh(files, out, source.root)           # all at once into a new folder, or nothing

The project being split is only read. `meshkit split plan` runs the first three steps;
`meshkit split apply` all four.
"""

from __future__ import annotations

from pathlib import Path

from meshkit.split.plan import Blocker, SplitOptions, SplitPlan
from meshkit.split.render import Rendered, render
from meshkit.split.source import SourceProject, load_source
from meshkit.split.stages import make_plan
from meshkit.split.writer import write_mesh

__all__ = ["Blocker", "Rendered", "SourceProject", "SplitOptions", "SplitPlan", "load_source",
           "make_plan", "plan_split", "render", "write_mesh"]


def plan_split(project_dir: Path, options: SplitOptions, *, manifest: Path | None = None,
               catalog: Path | None = None, out: Path | None = None,
               on_line=None) -> tuple[SplitPlan, Rendered]:
    """Plan splitting the dbt project in `project_dir` and render the new mesh's files in memory
    (none when the plan has blockers); `out` is where they would be written, for relative
    paths. `on_line` receives `dbt parse`'s output lines when a manifest must be made.

    Raises MeshError for a folder that is not a dbt project or a parse that fails."""
    source = load_source(project_dir, manifest=manifest, catalog=catalog, on_line=on_line)
    plan = make_plan(source, options)
    rendered = render(plan, out) if not plan.blockers else Rendered()
    return plan, rendered
