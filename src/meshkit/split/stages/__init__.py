"""The split plan as a pipeline of named stages, run in order over one `Split`.

Models are placed first (by group, or by `--select`); inputs, leaves, the semantic layer and
macros follow where the models went; the consequences — cross-project refs, public models,
cycles, the new projects — come last. Each stage is a function `stage(split) -> None` that
reads what earlier stages decided and records its own decisions, blockers and warnings;
tests run a stage alone on a small manifest (tests/test_split_stages.py).
"""

from __future__ import annotations

from typing import Callable

from meshkit.split.plan import SplitOptions, SplitPlan
from meshkit.split.source import SourceProject
from meshkit.split.stages.consequences import (
    check_cycles,
    check_package_name,
    describe_projects,
    find_cross_refs,
    list_shared,
    map_model_projects,
    warn_staging_public,
)
from meshkit.split.stages.inputs import (
    assign_raw_seeds,
    assign_seeds,
    assign_snapshots,
    assign_sources,
    check_shared_snapshots,
    warn_monolith_tables,
    warn_seeds_read_as_sources,
)
from meshkit.split.stages.leaves import (
    assign_disabled,
    assign_exposures,
    assign_tests_and_analyses,
    assign_unit_tests,
    seeds_follow_tests,
)
from meshkit.split.stages.macros import assign_macros
from meshkit.split.stages.models import (
    assign_models,
    check_name_collisions,
    check_project_names,
    check_versions,
    refuse_unsupported,
)
from meshkit.split.stages.semantic import assign_semantic_layer
from meshkit.split.stages.state import Split

Stage = Callable[[Split], None]

STAGES: tuple[Stage, ...] = (
    refuse_unsupported,
    assign_models,
    check_project_names,
    check_versions,
    check_name_collisions,
    assign_snapshots,
    check_shared_snapshots,
    assign_seeds,
    assign_tests_and_analyses,
    assign_exposures,
    assign_unit_tests,
    seeds_follow_tests,
    assign_disabled,
    assign_sources,
    assign_raw_seeds,
    warn_seeds_read_as_sources,
    warn_monolith_tables,
    assign_semantic_layer,
    assign_macros,
    map_model_projects,
    find_cross_refs,
    check_cycles,
    describe_projects,
    list_shared,
    warn_staging_public,
    check_package_name,
)


def make_plan(source: SourceProject, options: SplitOptions, stages: tuple[Stage, ...] = STAGES) -> SplitPlan:
    """Where every resource of `source` goes, and what that requires; never raises for what
    cannot be split — `plan.blockers` says it, with file and line where known."""
    split = Split(source, options)
    for stage in stages:
        stage(split)
    return split.plan
