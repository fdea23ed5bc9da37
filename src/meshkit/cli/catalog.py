"""`meshkit docs generate` and `meshkit serve`: the mesh catalog, static or live."""

from __future__ import annotations

import json
from pathlib import Path

import click

from meshkit.cli import console, main, mesh_option, reports_errors
from meshkit.config import load_mesh
from meshkit.errors import MeshError


@main.group()
def docs() -> None:
    """The mesh catalog: documentation and lineage of every project, from the store."""


@docs.command("generate")
@mesh_option
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder to write (default: .meshkit/catalog beside mesh.yml).")
@click.option("--env", help="Environment from mesh.yml (default: the mesh's default).")
@click.option("--workers", type=int, help="Processes that render pages (default: one per core).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@reports_errors
def generate(mesh_path, out, env, workers, as_json) -> None:
    """Write a static catalog of the whole mesh (open index.html, or host the folder)."""
    from meshkit.catalog.live import load_catalog
    from meshkit.catalog.packages import package_views
    from meshkit.store.store import Store
    from meshkit.web.static_site import generate_site

    mesh = load_mesh(mesh_path)
    environment = mesh.environment(env)
    out = out or mesh.root / ".meshkit" / "catalog"
    catalog = load_catalog(Store(mesh.store_url), environment.name, mesh_name=mesh.name)
    if as_json:
        report = generate_site(catalog, out, workers=workers, packages=package_views(mesh),
                               remote_images=mesh.remote_images)
        click.echo(json.dumps({"out": str(report.out), "projects": report.projects,
                               "resources": report.nodes, "pages": report.pages,
                               "seconds": round(report.seconds, 2),
                               "version": catalog.version}, indent=2))
        return
    with console.status("generating the catalog…") as status:   # progress on the status line
        report = generate_site(catalog, out, workers=workers, packages=package_views(mesh),
                               remote_images=mesh.remote_images,
                               progress=lambda text: status.update(f"generating the catalog: {text}"))
    console.print(f"wrote the catalog of [bold]{mesh.name}[/] ({environment.name}): "
                  f"{report.projects} projects, {report.nodes} resources, {report.pages} pages "
                  f"in {report.seconds:.1f} s", highlight=False)
    console.print(f"open {report.out / 'index.html'}", highlight=False, soft_wrap=True)


@main.command()
@mesh_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option("--env", help="Environment from mesh.yml (default: the mesh's default).")
@click.option("--refresh", default=5.0, show_default=True, type=float,
              help="Seconds between looks at the store for new runs (0: never).")
@click.option("--token", envvar="MESHKIT_API_TOKEN",
              help="Bearer token for API endpoints that act (env: MESHKIT_API_TOKEN).")
@reports_errors
def serve(mesh_path, host, port, env, refresh, token) -> None:
    """Serve the catalog live, with a JSON API; it refreshes when a project publishes."""
    import uvicorn

    from meshkit.catalog.live import CatalogSource
    from meshkit.store.store import Store
    from meshkit.web.app import create_app

    mesh = load_mesh(mesh_path)
    environment = mesh.environment(env)
    source = CatalogSource(Store(mesh.store_url), environment.name, mesh_name=mesh.name,
                           interval=refresh)
    if source.last_error:
        raise MeshError(f"cannot read the store: {source.last_error}")
    app = create_app(source, token=token, poll=refresh > 0, settings={"mesh": mesh})
    published = len(source.catalog.project_names)
    console.print(f"serving the catalog of [bold]{mesh.name}[/] ({environment.name}, "
                  f"{published} published project{'s' if published != 1 else ''}) at "
                  f"http://{host}:{port}/", highlight=False)
    if not published:
        console.print("no project has published yet: pages fill in as `meshkit build` publishes",
                      style="yellow")
    sock = _listen(host, port)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def _listen(host: str, port: int):
    """Bind before starting, so a taken port is one clear message, not a server log."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MeshError(f"cannot resolve --host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise MeshError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                        hint="pick another --port, or stop what is using it") from None
    return sock
