"""An optional bearer token for endpoints that change something (or for every endpoint).

    app.state.auth = BearerAuth(token)   # None: no token configured (create_app does this)
    Route("/api/jobs/{name}/run", requires_token(run_job), methods=["POST"])

A protected endpoint answers 401 without `Authorization: Bearer <token>` (compared in
constant time) and 403 when the server was started without a token: endpoints that act
are closed unless an operator opened them.
"""

from __future__ import annotations

import functools
import inspect
import secrets
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

TOKEN_ENV_VAR = "MESHKIT_API_TOKEN"


class BearerAuth:
    def __init__(self, token: str | None = None) -> None:
        self.token = token or None

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def check(self, request: Request) -> JSONResponse | None:
        """None if the request may proceed, else the response to send."""
        if self.token is None:
            return JSONResponse({"error": "this endpoint needs an API token; start the server "
                                          f"with --token or {TOKEN_ENV_VAR}"}, status_code=403)
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(),
                                                                    self.token.encode()):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="meshkit"'})
        return None


def requires_token(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Starlette endpoint (sync or async) with the check of the app's bearer token
    (`request.app.state.auth`): 401 without the right one, 403 when none is configured."""
    return _guard(endpoint, always=True)


def requires_token_if_set(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Like `requires_token`, but open to all when the server has no token (reading)."""
    return _guard(endpoint, always=False)


def _guard(endpoint: Callable[..., Any], always: bool) -> Callable[..., Any]:
    def denied(request: Request) -> JSONResponse | None:
        auth: BearerAuth = request.app.state.auth
        return auth.check(request) if always or auth.enabled else None

    if inspect.iscoroutinefunction(endpoint):
        @functools.wraps(endpoint)
        async def guarded_async(request: Request):
            return denied(request) or await endpoint(request)
        return guarded_async

    @functools.wraps(endpoint)
    async def guarded(request: Request):
        return denied(request) or await run_in_threadpool(endpoint, request)
    return guarded
