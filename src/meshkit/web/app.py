"""The meshkit web app: a Starlette application assembled from route providers.

A route provider is a function that receives the `WebContext` (the live catalog, the
bearer-token check, settings) and returns Starlette routes. The catalog is one provider;
other parts of meshkit add theirs without touching this module:

    from meshkit.web.app import register_provider

    def job_routes(ctx):
        return [Route("/api/jobs/{name}/run", ctx.auth.protect(run_job), methods=["POST"])]

    register_provider(job_routes)

`create_app(source)` uses the catalog provider plus every registered one; pass
`providers=[...]` to choose exactly.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from meshkit.catalog.live import CatalogSource
from meshkit.catalog.packages import package_views
from meshkit.catalog.views import PackageView
from meshkit.web.auth import BearerAuth
from meshkit.web.render import content_security_policy

STATIC_DIR = Path(__file__).parent / "static"

# Scripts only from this server and never inline: what a description could smuggle into a
# page would not run even if it got past the escaping and the sanitizer. Remote images only
# from the origins mesh.yml allows (render.content_security_policy).
CONTENT_SECURITY_POLICY = content_security_policy()


def security_headers(remote_images: Sequence[str] = ()) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(tuple(remote_images)).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]


SECURITY_HEADERS = security_headers()


@dataclass
class WebContext:
    source: CatalogSource
    auth: BearerAuth
    settings: dict[str, Any] = field(default_factory=dict)
    packages: list[PackageView] = field(default_factory=list)   # of settings["mesh"]

    @property
    def remote_images(self) -> tuple[str, ...]:
        """Origins of remote images pages may load (mesh.yml catalog.remote_images)."""
        mesh = self.settings.get("mesh")
        return tuple(getattr(mesh, "remote_images", ()) or self.settings.get("remote_images", ()))

    @property
    def catalog(self):
        return self.source.catalog


RouteProvider = Callable[[WebContext], Sequence[BaseRoute]]
_registered: list[RouteProvider] = []


def register_provider(provider: RouteProvider) -> RouteProvider:
    """Add routes to every app `create_app` builds from now on (usable as a decorator)."""
    if provider not in _registered:
        _registered.append(provider)
    return provider


def default_providers() -> list[RouteProvider]:
    from meshkit.web.catalog_routes import catalog_routes
    from meshkit.web.jobs_api import job_routes     # routes only when settings["mesh"] is given

    return [catalog_routes, job_routes, *_registered]


class SecurityHeaders:
    """Pure ASGI middleware: security headers on every HTTP response."""

    def __init__(self, app, headers: list[tuple[bytes, bytes]] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (k, v) for k, v in self.headers if k not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(source: CatalogSource, *, providers: Sequence[RouteProvider] | None = None,
               token: str | None = None, auth: BearerAuth | None = None,
               settings: dict[str, Any] | None = None, poll: bool = True) -> Starlette:
    settings = dict(settings or {})
    mesh = settings.get("mesh")
    context = WebContext(source, auth or BearerAuth(token), settings,
                         package_views(mesh) if mesh is not None else [])
    routes: list[BaseRoute] = []
    for provider in (providers if providers is not None else default_providers()):
        routes.extend(provider(context))
    routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if poll:
            source.start()
        try:
            yield
        finally:
            source.stop()

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "not found"}, status_code=404)
        from meshkit.web.pages import PageRenderer
        from meshkit.web.render import Links

        html = PageRenderer(source.catalog, Links(), live=True,
                            remote_images=context.remote_images).not_found("such page")
        return HTMLResponse(html, status_code=404)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found})
    app.add_middleware(SecurityHeaders, headers=security_headers(context.remote_images))
    app.state.context = context
    return app
