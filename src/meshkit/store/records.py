"""What the store keeps about each published run, and its `latest` pointer."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

import msgspec

from meshkit.status import RunStatus

# The layout and record format this meshkit writes. A run whose record says more was written
# by a newer meshkit, which may have changed what the files mean: refuse it, naming the fix.
STORE_FORMAT = 1


class ArtifactFile(msgspec.Struct, frozen=True):
    sha256: str
    size: int


class RunRecord(msgspec.Struct):
    """meshkit-run.json: written last into a run folder; a run without it is incomplete."""

    run_id: str
    project: str
    environment: str
    completed_at: str          # when dbt finished the run (run_results), ISO 8601 UTC
    published_at: str
    dbt_version: str
    meshkit_version: str
    status: str                # a RunStatus: SUCCESS, FAILURES_ALLOWED (publish --allow-failures)
                               # or PARSED (a manifest without run results: nothing was built)
    files: dict[str, ArtifactFile]
    git_sha: str | None = None
    invocation_id: str | None = None
    models: int = 0
    public_models: int = 0
    manifest_schema: str = ""  # the manifest's dbt_schema_version URL (…/manifest/v12.json)
    format: int = STORE_FORMAT
    not_built: list[str] = msgspec.field(default_factory=list)  # public models no run built yet

    @property
    def order_key(self) -> tuple[str, str]:
        """Runs are ordered by completion time; the run id breaks ties."""
        return (self.completed_at, self.run_id)


class Pointer(msgspec.Struct):
    run_id: str
    completed_at: str

    @property
    def order_key(self) -> tuple[str, str]:
        return (self.completed_at, self.run_id)


RUN_RECORD = "meshkit-run.json"
POINTER = "latest.json"
INTERFACE = "interface.json"
ARTIFACTS = ("manifest.json", "run_results.json", "catalog.json", "sources.json")
# Every published run has these (meshkit.store.publish); a record without one is damaged.
REQUIRED = ("manifest.json", "run_results.json", INTERFACE)


def required_files(status: str) -> tuple[str, ...]:
    """The files a run record of this status must list: a parsed run has no run results."""
    return tuple(n for n in REQUIRED
                 if not (status == RunStatus.PARSED and n == "run_results.json"))


def utc_now() -> str:
    """Now, ISO 8601 UTC with microseconds: 2026-11-23T09:18:39.123456Z."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_run_id(completed_at: str) -> str:
    """Sortable and readable: 20261123T091839Z-85ab12 (the suffix keeps ids unique)."""
    digits = "".join(ch for ch in completed_at if ch.isdigit())
    return f"{digits[:8]}T{digits[8:14]}Z-{secrets.token_hex(3)}"
