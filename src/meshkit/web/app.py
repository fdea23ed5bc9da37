"""The meshkit web app: one Starlette application over the live catalog.

Endpoints are module-level functions listed in each module's `routes` (catalog_routes.py:
pages and the catalog API; jobs_api.py: the jobs API, mounted when `settings["mesh"]` is
given); they read what the app shares through `request.app.state`:

    source          the CatalogSource (`.catalog` is the live catalog)
    auth            the BearerAuth that web.auth.requires_token checks
    settings        create_app's settings; `mesh` is the Mesh of mesh.yml, if any
    packages        the PackageViews of that mesh's installed packages
    remote_images   origins of the remote images pages may load (mesh.yml)
    jobs            the jobs API's live view of mesh.yml (jobs_api.live_mesh), if mounted

`create_app(source, routes=[...])` adds more routes after these.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from meshkit.catalog.live import CatalogSource
from meshkit.catalog.packages import package_views
from meshkit.web import catalog_routes, jobs_api
from meshkit.web.auth import BearerAuth
from meshkit.web.pages import PageRenderer
from meshkit.web.render import Links, content_security_policy

STATIC_DIR = Path(__file__).parent / "static"


# Scripts only from this server and never inline: what a description could smuggle into a
# page would not run even if it got past the escaping and the sanitizer. Remote images only
# from the origins mesh.yml allows (render.content_security_policy).
def security_headers(remote_images: Sequence[str] = ()) -> list[tuple[bytes, bytes]]:
    """The headers every response carries: a content security policy that lets images come
    from `remote_images` (origins), no sniffing, no referrer, no framing."""
    return [
        (b"content-security-policy", content_security_policy(tuple(remote_images)).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]


SECURITY_HEADERS = security_headers()


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


async def not_found(request: Request, exc: Exception) -> Response:
    """404: JSON under /api/, else the catalog's not-found page."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "not found"}, status_code=404)
    state = request.app.state
    html = PageRenderer(state.source.catalog, Links(), live=True,
                        remote_images=state.remote_images).not_found("such page")
    return HTMLResponse(html, status_code=404)


def create_app(source: CatalogSource, *, routes: Sequence[BaseRoute] = (),
               token: str | None = None, auth: BearerAuth | None = None,
               settings: dict[str, Any] | None = None, poll: bool = True) -> Starlette:
    """The app serving `source`'s catalog (and the jobs API when `settings["mesh"]` is a
    Mesh), then `routes`. `poll`: refresh the catalog in the background while serving."""
    settings = dict(settings or {})
    mesh = settings.get("mesh")
    remote_images = tuple(getattr(mesh, "remote_images", ()) or settings.get("remote_images", ()))
    every: list[BaseRoute] = list(catalog_routes.routes)
    if mesh is not None:
        every.extend(jobs_api.routes)
    every.extend(routes)
    every.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if poll:
            source.start()
        try:
            yield
        finally:
            source.stop()

    app = Starlette(routes=every, lifespan=lifespan, exception_handlers={404: not_found})
    app.add_middleware(SecurityHeaders, headers=security_headers(remote_images))
    app.state.source = source
    app.state.auth = auth or BearerAuth(token)
    app.state.settings = settings
    app.state.packages = package_views(mesh) if mesh is not None else []
    app.state.remote_images = remote_images
    app.state.jobs = jobs_api.live_mesh(mesh) if mesh is not None else None
    return app
