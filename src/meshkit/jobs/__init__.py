"""Jobs: named builds of the mesh run on a schedule, on completion of other jobs, or by hand.

    service    what the CLI and the web app do with jobs: list, queue, run now, follow, cancel
    queue      the job queue and the record of every job run (SQLite, beside the run history)
    execute    what one run does: freshness, the build (meshkit.orchestrate.build), docs
    worker     the process that performs a claimed run; launching, stopping, recovering runs
    scheduler  the loop that fires schedules, claims queued runs and supervises them
    schedule   cron times of a job's schedule (croniter)
    notify     messages to the owners of the models a run failed or rebuilt

Jobs use the build; the build (meshkit.orchestrate) never imports jobs.
"""
