"""The jobs API, in the catalog's web app (mounted by create_app when `settings["mesh"]` is given).

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

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from meshkit.errors import MeshError
from meshkit.web.auth import requires_token, requires_token_if_set


def live_mesh(mesh):
    """What the endpoints read mesh.yml's jobs from (`app.state.jobs`): it follows edits."""
    return _service().LiveMesh(mesh)


def _service():
    from meshkit.jobs import service

    return service


def _live(request: Request):
    """The mesh as mesh.yml says now (meshkit.jobs.service.LiveMesh, on `app.state.jobs`)."""
    return request.app.state.jobs


def _store(request: Request):
    from meshkit.jobs.queue import JobStore

    return JobStore.for_mesh(_live(request).current())


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _scheduler_state(db) -> dict[str, Any]:
    info = _service().scheduler_info(db)
    return {"running": info.alive, "pids": info.pids}


def list_jobs(request: Request) -> Response:
    """GET /api/jobs: every job with its schedule and latest run, and the scheduler's state."""
    with _store(request) as db:
        return JSONResponse({"jobs": _service().job_rows(_live(request).current(), db),
                             "scheduler": _scheduler_state(db)})


def one_job(request: Request) -> Response:
    """GET /api/jobs/{name}: a job and its recent runs; 404 for an unknown job."""
    name = request.path_params["name"]
    current = _live(request).current()
    if name not in current.jobs:
        return _error(404, f"unknown job '{name}'", jobs=list(current.jobs))
    limit = _int(request.query_params.get("limit"), 20, 1, 500)
    with _store(request) as db:
        row = next(r for r in _service().job_rows(current, db) if r["name"] == name)
        row["runs"] = [r.to_json() for r in db.runs(name, limit=limit)]
        return JSONResponse(row)


async def run_job(request: Request) -> Response:
    """POST /api/jobs/{name}/run (token): queue a run now (`reason` in the JSON body)."""
    name = request.path_params["name"]
    reason = None
    body = await request.body()
    if body:
        try:
            payload = await request.json()
        except ValueError:
            return _error(400, "the body must be JSON, e.g. {\"reason\": \"new data landed\"}")
        if not isinstance(payload, dict):
            return _error(400, "the body must be a JSON object")
        reason = payload.get("reason")
    key = request.headers.get("idempotency-key")
    return await run_in_threadpool(_queue, request, name, reason, key)


def _queue(request: Request, name: str, reason: str | None, key: str | None) -> Response:
    current = _live(request).current()
    if name not in current.jobs:
        return _error(404, f"unknown job '{name}'", jobs=list(current.jobs))
    job = current.jobs[name]
    with _store(request) as db:
        text = "run now through the API" + (f": {reason}" if reason else "")
        dedupe = f"api:{name}:{key}" if key else None
        run = db.enqueue(job, "api", text, dedupe_key=dedupe)
        status = 202
        if run is None:                      # the same Idempotency-Key was queued before
            run = db.run_by_key(dedupe)
            status = 200
        assert run is not None
        return JSONResponse({"run": run.to_json(), "status_url": f"/api/job-runs/{run.id}",
                             "scheduler": _scheduler_state(db)}, status_code=status)


def one_run(request: Request) -> Response:
    """GET /api/job-runs/{run_id}: a run with its triggers and notifications; 404 if none."""
    run_id = _int(request.path_params["run_id"], None)
    with _store(request) as db:
        run = db.run(run_id) if run_id is not None else None
        if run is None:
            return _error(404, f"there is no job run {request.path_params['run_id']}")
        detail = _service().run_detail(db, run)
    if request.query_params.get("log") in ("1", "true", "yes"):
        detail["log"] = _service().read_log(_live(request).current(), run.id)
    return JSONResponse(detail)


def cancel_run(request: Request) -> Response:
    """POST /api/job-runs/{run_id}/cancel (token): cancel a queued or running run."""
    run_id = _int(request.path_params["run_id"], None)
    current = _live(request).current()
    with _store(request) as db:
        try:
            run = _service().cancel(current, db, run_id if run_id is not None else -1, by="the API")
        except MeshError as exc:
            return _error(404, exc.message)
        return JSONResponse({"run": run.to_json()})


routes = [
    Route("/api/jobs", requires_token_if_set(list_jobs), methods=["GET"]),
    Route("/api/jobs/{name}", requires_token_if_set(one_job), methods=["GET"]),
    Route("/api/jobs/{name}/run", requires_token(run_job), methods=["POST"]),
    Route("/api/job-runs/{run_id}", requires_token_if_set(one_run), methods=["GET"]),
    Route("/api/job-runs/{run_id}/cancel", requires_token(cancel_run), methods=["POST"]),
]


def _int(value: str | None, default: int | None, low: int | None = None, high: int | None = None):
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    if number is not None and low is not None:
        number = max(low, min(number, high if high is not None else number))
    return number
