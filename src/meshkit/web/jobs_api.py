"""The jobs API, in the catalog's web app (a route provider; needs `settings["mesh"]`).

    GET  /api/jobs                       every job, its schedule, trigger and last run
    GET  /api/jobs/{name}                one job and its recent runs (?limit=)
    POST /api/jobs/{name}/run            queue a run now → 202 {"run": …, "status_url": …}
    GET  /api/job-runs/{id}              a run: status, why, steps, what it triggered (?log=1)
    POST /api/job-runs/{id}/cancel       cancel a queued or running run

POST endpoints need `Authorization: Bearer <token>` and are closed when the server has no
token. With a token configured, the GET endpoints need it too. A run is queued for the
scheduler (`meshkit scheduler`), which starts it; the answer says whether one is running.
An `Idempotency-Key` header makes a retried POST return the run the first one queued.
"""

from __future__ import annotations

from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from meshkit.errors import MeshError


def job_routes(ctx) -> list[BaseRoute]:
    mesh = ctx.settings.get("mesh")
    if mesh is None:
        return []
    from meshkit.orchestrate import jobs as service
    from meshkit.orchestrate.jobs_store import JobStore

    live = service.LiveMesh(mesh)

    def store() -> JobStore:
        return JobStore.for_mesh(live.current())

    def readable(endpoint: Callable[[Request], Response]):
        async def guarded(request: Request) -> Response:
            if ctx.auth.enabled:
                denied = ctx.auth.check(request)
                if denied is not None:
                    return denied
            return await run_in_threadpool(endpoint, request)
        return guarded

    def error(status: int, message: str, **extra: Any) -> JSONResponse:
        return JSONResponse({"error": message, **extra}, status_code=status)

    def scheduler_state(db: JobStore) -> dict[str, Any]:
        info = service.scheduler_info(db)
        return {"running": info.alive, "pids": info.pids}

    def list_jobs(request: Request) -> Response:
        with store() as db:
            return JSONResponse({"jobs": service.job_rows(live.current(), db),
                                 "scheduler": scheduler_state(db)})

    def one_job(request: Request) -> Response:
        name = request.path_params["name"]
        current = live.current()
        if name not in current.jobs:
            return error(404, f"unknown job '{name}'", jobs=list(current.jobs))
        limit = _int(request.query_params.get("limit"), 20, 1, 500)
        with store() as db:
            row = next(r for r in service.job_rows(current, db) if r["name"] == name)
            row["runs"] = [r.to_json() for r in db.runs(name, limit=limit)]
            return JSONResponse(row)

    async def run_job(request: Request) -> Response:
        name = request.path_params["name"]
        reason = None
        body = await request.body()
        if body:
            try:
                payload = await request.json()
            except ValueError:
                return error(400, "the body must be JSON, e.g. {\"reason\": \"new data landed\"}")
            if not isinstance(payload, dict):
                return error(400, "the body must be a JSON object")
            reason = payload.get("reason")
        key = request.headers.get("idempotency-key")
        return await run_in_threadpool(_queue, name, reason, key)

    def _queue(name: str, reason: str | None, key: str | None) -> Response:
        current = live.current()
        if name not in current.jobs:
            return error(404, f"unknown job '{name}'", jobs=list(current.jobs))
        job = current.jobs[name]
        with store() as db:
            text = "run now through the API" + (f": {reason}" if reason else "")
            dedupe = f"api:{name}:{key}" if key else None
            run = db.enqueue(job, "api", text, dedupe_key=dedupe)
            status = 202
            if run is None:                      # the same Idempotency-Key was queued before
                run = db.run_by_key(dedupe)
                status = 200
            assert run is not None
            return JSONResponse({"run": run.to_json(), "status_url": f"/api/job-runs/{run.id}",
                                 "scheduler": scheduler_state(db)}, status_code=status)

    def one_run(request: Request) -> Response:
        run_id = _int(request.path_params["run_id"], None)
        with store() as db:
            run = db.run(run_id) if run_id is not None else None
            if run is None:
                return error(404, f"there is no job run {request.path_params['run_id']}")
            detail = service.run_detail(db, run)
        if request.query_params.get("log") in ("1", "true", "yes"):
            detail["log"] = service.read_log(live.current(), run.id)
        return JSONResponse(detail)

    def cancel_run(request: Request) -> Response:
        run_id = _int(request.path_params["run_id"], None)
        current = live.current()
        with store() as db:
            try:
                run = service.cancel(current, db, run_id if run_id is not None else -1, by="the API")
            except MeshError as exc:
                return error(404, exc.message)
            return JSONResponse({"run": run.to_json()})

    return [
        Route("/api/jobs", readable(list_jobs), methods=["GET"]),
        Route("/api/jobs/{name}", readable(one_job), methods=["GET"]),
        Route("/api/jobs/{name}/run", ctx.auth.protect(run_job), methods=["POST"]),
        Route("/api/job-runs/{run_id}", readable(one_run), methods=["GET"]),
        Route("/api/job-runs/{run_id}/cancel", ctx.auth.protect(cancel_run), methods=["POST"]),
    ]


def _int(value: str | None, default: int | None, low: int | None = None, high: int | None = None):
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    if number is not None and low is not None:
        number = max(low, min(number, high if high is not None else number))
    return number
