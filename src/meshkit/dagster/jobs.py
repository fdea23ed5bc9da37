"""mesh.yml jobs as Dagster jobs: each job an asset job over the assets it builds, its
`schedule` a Dagster schedule (cron and time zone), its `triggers.on_completion` a sensor
(triggers.py). Jobs of another environment than the definitions' are left out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    SensorDefinition,
    define_asset_job,
)

from meshkit.config import Mesh
from meshkit.config.jobs import Job
from meshkit.dagster.keys import safe_name
from meshkit.dagster.materialize import JOB_TAG, job_selection
from meshkit.dagster.specs import MeshAssets
from meshkit.dagster.triggers import completion_sensor

if TYPE_CHECKING:   # Dagster exports the type only from a private module
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def job_definitions(mesh: Mesh, assets: MeshAssets, environment: str
                    ) -> tuple[list[UnresolvedAssetJobDefinition], list[ScheduleDefinition],
                               list[SensorDefinition]]:
    """(jobs, schedules, sensors) for the mesh's jobs of `environment`. Schedules and sensors
    start running, as `meshkit scheduler` runs every job it reads."""
    jobs = {name: job for name, job in mesh.jobs.items() if job.environment == environment}
    defined = {name: asset_job(job, assets) for name, job in jobs.items()}
    schedules = [ScheduleDefinition(name=f"{safe_name(name)}_schedule", job=defined[name],
                                    cron_schedule=job.schedule.cron,
                                    execution_timezone=job.schedule.timezone,
                                    default_status=DefaultScheduleStatus.RUNNING)
                 for name, job in jobs.items() if job.schedule]
    sensors = [completion_sensor(job, defined[name], {u: dagster_job_name(u) for u in jobs})
               for name, job in jobs.items() if job.trigger
               and all(u in jobs for u in job.trigger.upstream)]
    return list(defined.values()), schedules, sensors


def dagster_job_name(job: str) -> str:
    """A mesh.yml job's name in Dagster (which allows only letters, digits and `_`)."""
    return safe_name(job)


def asset_job(job: Job, assets: MeshAssets) -> UnresolvedAssetJobDefinition:
    """The asset job of a mesh.yml job; its runs carry the job's name, so the build uses the
    job's own selectors and options (materialize.py)."""
    return define_asset_job(dagster_job_name(job.name),
                            AssetSelection.assets(*sorted(job_selection(assets, job),
                                                          key=lambda k: k.path)),
                            description=job.description or f"meshkit job: {job.builds()}",
                            tags={JOB_TAG: job.name})
