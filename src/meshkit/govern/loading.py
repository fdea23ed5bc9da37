"""Where a check reads the mesh from: working copies, the store, or manifest files.

`auto` (the default) reads each mesh project's working copy when it has a
target/manifest.json (what a developer or a CI job just parsed) and the store's latest run
otherwise; projects that only publish to the store (hybrid projects) come from the store.
No warehouse is touched: only artifacts are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterable, Literal

from meshkit.config import Mesh
from meshkit.dbt.artifacts import decode_catalog, decode_manifest
from meshkit.dbt.files import changed_since
from meshkit.errors import MeshError
from meshkit.govern.view import MeshView
from meshkit.graph.mesh_graph import MeshGraph, ProjectState, load_from_store, load_manifest_file
from meshkit.store.store import Store

Source = Literal["auto", "store", "working"]
PARTIAL_PARSE = "partial_parse.msgpack"   # dbt's PARTIAL_PARSE_FILE_NAME


@dataclass
class Loaded:
    view: MeshView
    origins: dict[str, str] = field(default_factory=dict)   # project → where it was read from
    missing: list[str] = field(default_factory=list)        # mesh projects with nothing to read


def load_view(mesh: Mesh | None, *, source: Source = "auto", env: str | None = None,
              manifests: Iterable[Path] = (), store_url: str | None = None,
              today: date | None = None, with_extras: bool = False) -> Loaded:
    """The mesh as governance checks it: from `manifests` when given, else each project's
    working copy or its latest published artifacts (`source`: auto, store or working; `env`:
    the environment read from the store). `today` dates the findings (tests pin it);
    `with_extras` also reads catalogs.

    Raises MeshError when there is nothing to read: a missing manifest, no mesh.yml and no
    manifest, or no project with a manifest."""
    working: set[str] = set()
    manifests = list(manifests)
    if manifests:
        graph = MeshGraph()
        for path in manifests:
            if not path.is_file():
                raise MeshError("manifest not found", file=path)
            graph.add_project(load_manifest_file(path))
    elif mesh is None:
        raise MeshError("nothing to read: no mesh.yml and no --manifest given",
                        hint="run inside a mesh, pass --mesh PATH, or pass --manifest FILE")
    else:
        graph, working = _load_mesh(mesh, source, env, store_url, with_extras)
    if not graph.projects:
        raise MeshError("no project has a manifest to check", file=mesh.file if mesh else None,
                        hint="run `dbt parse` in a project, or build and publish the mesh first "
                             "(`meshkit build`)")
    directories = {name: p.path for name, p in mesh.projects.items()} if mesh else {}
    for path in manifests:          # a manifest under <project>/target belongs to that folder
        if path.parent.name == "target":
            name = next((n for n, s in graph.projects.items() if s.origin == str(path)), None)
            if name and name not in directories:
                directories[name] = path.parent.parent.resolve()
                working.add(name)
    view = MeshView.build(graph, today=today, directories=directories, working_copies=working,
                          root=mesh.root if mesh else Path.cwd(), config=mesh)
    missing = sorted(set(mesh.projects) - set(graph.projects)) if mesh and not manifests else []
    return Loaded(view, {name: state.origin for name, state in graph.projects.items()}, missing)


def stale_working_copies(mesh: Mesh) -> dict[str, Path]:
    """Project → a file of its working copy changed after its target/manifest.json was
    written, or target/partial_parse.msgpack when the last parse wrote no manifest (see
    `parse_failed`). Projects without a manifest are left out: there is nothing stale to read."""
    stale = {}
    for name, project in mesh.projects.items():
        manifest = project.path / "target" / "manifest.json"
        if manifest.is_file():
            changed = changed_since(project.path, manifest.stat().st_mtime)
            if changed is None and parse_failed(project.path / "target"):
                changed = project.path / "target" / PARTIAL_PARSE
            if changed is not None:
                stale[name] = changed
    return stale


def parse_failed(target: Path) -> bool:
    """Did dbt's last parse of this target/ stop before writing manifest.json?

    dbt writes partial_parse.msgpack at the end of parsing, before manifest.json
    (dbt/parser/manifest.py: ManifestLoader.load, then write_manifest); a parse refused after
    that (the meshkit plugin's refusal of a ref, which puts the old manifest back) leaves the
    msgpack newer than the manifest."""
    try:
        return (target / PARTIAL_PARSE).stat().st_mtime > (target / "manifest.json").stat().st_mtime
    except OSError:
        return False


def _working_copy(name: str, folder: Path, with_extras: bool) -> ProjectState:
    """A project as its target/ holds it; catalog.json only when written after the manifest
    (`dbt docs generate` after the last parse): otherwise it describes older code."""
    target = folder / "target"
    manifest = target / "manifest.json"
    state = ProjectState(name, decode_manifest(manifest.read_bytes(), source=str(manifest)),
                         origin=f"{folder.name}/target")
    catalog = target / "catalog.json"
    if with_extras and catalog.is_file() and catalog.stat().st_mtime >= manifest.stat().st_mtime:
        state.catalog = decode_catalog(catalog.read_bytes(), source=str(catalog))
    return state


def _load_mesh(mesh: Mesh, source: Source, env: str | None, store_url: str | None,
               with_extras: bool) -> tuple[MeshGraph, set[str]]:
    # Without a production environment (nor --env) only working copies can be read.
    read_store = source == "store" or (source == "auto" and (env or mesh.default_environment))
    environment = mesh.environment(env).name if read_store else None
    local: list[ProjectState] = []
    if source in ("auto", "working"):
        for name, project in mesh.projects.items():
            path = project.path / "target" / "manifest.json"
            if path.is_file():
                local.append(_working_copy(name, project.path, with_extras))
            elif source == "working":
                raise MeshError(f"project '{name}' has no target/manifest.json", file=path,
                                hint=f"run `dbt parse` in {project.path}, or check with --from store")
    working = {state.name for state in local}
    graph = MeshGraph()
    if environment is not None:         # read_store
        store = Store(store_url or mesh.store_url)
        names = [n for n in store.projects() if n not in working]
        graph = load_from_store(store, environment, names, with_extras=with_extras)
        for state in graph.projects.values():
            run = state.run.run_id if state.run else "?"
            state.origin = f"store {environment} run {run}"
    for state in local:
        graph.add_project(state)
    return graph, working
