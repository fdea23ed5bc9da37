"""Rules about model versions."""

from __future__ import annotations

from typing import Annotated, Iterator

import msgspec

from meshkit.govern.findings import Violation
from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView
from meshkit.status import Severity


@rule(category="versions", severity=Severity.ERROR, applies_to="mesh")
def versioned_model_without_latest_version(mesh: MeshView) -> Iterator[Violation]:
    """A versioned model does not declare `latest_version` (every new version becomes latest at once).

    dbt writes the greatest version into the manifest when none is declared, so this reads
    the model's YAML in its working copy; projects read from the store only are skipped.
    """
    for versions in mesh.versioned_models():
        newest = versions[-1]
        if mesh.declares(newest, "latest_version") is False:
            yield Violation("is versioned without `latest_version`: a new version becomes "
                            "latest for every unpinned consumer the moment it is added; "
                            f"declare `latest_version: {newest.version}`", newest.unique_id)


@rule(category="versions", severity=Severity.WARN, applies_to="mesh", stricter={"max_versions": "lower"})
def too_many_live_versions(mesh: MeshView, max_versions: Annotated[int, msgspec.Meta(ge=1)] = 3
                           ) -> Iterator[Violation]:
    """A model keeps more live (not yet deprecated) versions than the mesh allows."""
    for versions in mesh.versioned_models():
        live = [v for v in versions
                if v.deprecation_date is None or v.deprecation_date > mesh.today]
        if len(live) > max_versions:
            names = ", ".join(f"v{v.version}" for v in live)
            yield Violation(f"has {len(live)} live versions ({names}), more than {max_versions}: "
                            "set a deprecation_date on the old ones", versions[-1].unique_id)
