"""`meshkit new project` and `meshkit new package`: write from the templates, then register."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, TypeGuard

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from meshkit.config.mesh import MESH_FILE, Mesh, find_mesh_file, load_mesh
from meshkit.errors import MeshError
from meshkit.files.yamltext import TextDoc, dump, guess_style, is_block, load
from meshkit.scaffold import Created, check_name, git_root, mesh_name, render_tree, write_new_folder
from meshkit.scaffold.profiles import derive_profile, duckdb_stem, dump_profiles, read_profiles


def _mesh_file(mesh_path: Path | None, cwd: Path) -> tuple[Path, bool]:
    """The mesh.yml to register in, and whether it must be created."""
    if mesh_path is not None:
        file = mesh_path / MESH_FILE if mesh_path.is_dir() or mesh_path.suffix not in (".yml", ".yaml") \
            else mesh_path
        return file.resolve(), not file.is_file()
    found = find_mesh_file(cwd)
    if found is not None:
        return found.resolve(), False
    return (cwd / MESH_FILE).resolve(), True


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _load(file: Path, created: bool) -> Mesh | None:
    return None if created else load_mesh(file)


# -- profiles -------------------------------------------------------------------------------------
def _project_stems(mesh: Mesh | None) -> dict[str, str]:
    """Mesh project → the stem of its DuckDB file (from its profiles.yml), where it has one."""
    stems = {}
    for project in (mesh.projects.values() if mesh else []):
        profiles = read_profiles(project.path / "profiles.yml")
        name = _profile_name(project.path)
        profile = profiles.get(name) if profiles and name else None
        if not isinstance(profile, dict):
            continue
        outputs = profile.get("outputs")
        default = outputs.get(profile.get("target")) if isinstance(outputs, dict) else None
        if isinstance(default, dict) and default.get("type") == "duckdb":
            stem = duckdb_stem(default.get("path", ""))
            if stem:
                stems[project.name] = stem
    return stems


def _profile_name(project_dir: Path) -> str | None:
    import yaml

    try:
        config = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    return config.get("profile") or config.get("name")


def _profile_for(name: str, folder: Path, mesh: Mesh | None, mesh_root: Path,
                 upstream: list[str]) -> tuple[str, list[str]]:
    """profiles.yml for a new project, in the style of the mesh's first project that has one."""
    stems = _project_stems(mesh)
    projects = list(mesh.projects.values()) if mesh else []
    for project in projects:
        profiles = read_profiles(project.path / "profiles.yml")
        profile_name = _profile_name(project.path)
        profile = profiles.get(profile_name) if profiles and profile_name else None
        if not isinstance(profile, CommentedMap):
            continue
        reference = stems.get(project.name)
        own = name
        if reference and reference != project.name and reference.endswith("_" + project.name):
            own = reference[: -len(project.name)] + name          # jaffle_finance → jaffle_<name>
        database_of = {**stems, name: own}

        def relocate(path: str, base: Path = project.path) -> str:
            return _rel((base / path).resolve(), folder)

        folder_of = {p.name: _rel(p.path, mesh_root) for p in projects}
        folder_of[name] = _rel(folder, mesh_root)
        derived, notes = derive_profile(profile, name, upstream=upstream, database_of=database_of,
                                        replace_stems=set(stems.values()), relocate=relocate,
                                        rename_schema=(project.name, name), folder_of=folder_of)
        header = (f"dbt reads ./profiles.yml when it runs from this folder. Made by `meshkit new` in\n"
                  f"the style of {project.name}'s profile: this project writes its own database\n"
                  f"and, on DuckDB, attaches the files of the projects it reads, read-only.")
        return dump_profiles({name: derived}, header), notes
    warehouse = _rel(mesh_root / "warehouse", folder)
    attach = "".join(
        f"\n        - path: \"{{{{ env_var('MESHKIT_WAREHOUSE', '{warehouse}') }}}}/{stems.get(u, u)}.duckdb\""
        f"\n          read_only: true" for u in upstream)
    text = f"""# dbt reads ./profiles.yml when it runs from this folder. Made by `meshkit new`: a DuckDB
# file of its own in the mesh's warehouse folder (or $MESHKIT_WAREHOUSE); projects it reads
# are attached read-only. Point it at your warehouse instead when you have one.
{name}:
  target: prod
  outputs:
    prod:
      type: duckdb
      path: "{{{{ env_var('MESHKIT_WAREHOUSE', '{warehouse}') }}}}/{name}.duckdb"
      schema: main
      threads: 4{"" if not upstream else chr(10) + "      attach:" + attach}
"""
    return text, []


# -- mesh.yml -------------------------------------------------------------------------------------
_PACKAGES_HEADER = "# The mesh's internal dbt packages: projects install them with `local:`.\n"


def _register(file: Path, section: str, name: str, relative: str, comment: str = "") -> None:
    """Add `name: relative` under `projects:` or `packages:` of mesh.yml, keeping the rest as
    written; a missing section goes after `projects:`."""
    text = file.read_text(encoding="utf-8")
    doc = TextDoc(text, str(file))
    data = doc.data if isinstance(doc.data, CommentedMap) else None
    entry = f"{name}: {relative}" + (f"   # {comment}" if comment else "")
    lines = list(doc.lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    block = data.get(section) if data is not None else None
    projects = data.get("projects") if data is not None else None
    if _block_mapping(block):
        last = list(block.keys())[-1]
        indent = " " * block.lc.key(last)[1]
        lines.insert(doc.key_span(block, last).end, indent + entry + "\n")
    elif data is not None and section not in data and _block_mapping(projects) and is_block(data):
        indent = " " * projects.lc.key(list(projects.keys())[0])[1]
        header = [_PACKAGES_HEADER] if section == "packages" else []
        at = doc.key_span(data, "projects").end
        lines[at:at] = ["\n", *header, f"{section}:\n", indent + entry + "\n"]
    else:           # flow style or an odd layout: ruamel's round trip keeps comments too
        data = load(text, str(file))
        if not isinstance(data.get(section), CommentedMap):
            data[section] = CommentedMap()
        data[section][name] = relative
        file.write_text(dump(data, guess_style(text)), encoding="utf-8")
        return
    file.write_text("".join(lines), encoding="utf-8")


def _block_mapping(node: Any) -> TypeGuard[CommentedMap]:
    return isinstance(node, CommentedMap) and len(node) > 0 and is_block(node)


def _new_mesh_text(root: Path, name: str, relative: str) -> str:
    return (f"# The mesh '{mesh_name(root)}': its dbt projects and the store they publish their\n"
            f"# artifacts to. Created by `meshkit new`; add projects with `meshkit new project`.\n"
            f"name: {mesh_name(root)}\n"
            f"store: .meshkit/store\n"
            f"projects:\n"
            f"  {name}: {relative}\n")


# -- workflow -------------------------------------------------------------------------------------
def _workflow(kind: str, name: str, folder: Path, mesh_file: Path, parse: list[Path],
              scope: str, mesh_name: str) -> tuple[Path, str]:
    root = git_root(mesh_file.parent) or mesh_file.parent
    what = f"the project {name}" if kind == "project" else f"the internal package {name}"
    values = {
        "name": name, "what": what, "mesh": mesh_name,
        "folder": _rel(folder, root), "mesh_file": _rel(mesh_file, root),
        "mesh_dir": _rel(mesh_file.parent, root),
        "parse": " ".join(f'"{_rel(p, mesh_file.parent)}"' for p in parse) or '"."',
        "scope": scope,
    }
    from meshkit.scaffold import fill, templates

    text = fill((templates() / "workflow" / "project.yml.tmpl").read_text(encoding="utf-8"), values)
    return root / ".github" / "workflows" / f"meshkit-{name}.yml", text


def _write_workflow(path: Path, text: str, created: Created) -> None:
    if path.exists():
        created.notes.append(f"{path} exists already: left as it is")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    created.files.append(path)


def _check_upstream(upstream: tuple[str, ...], mesh: Mesh | None, mesh_file: Path) -> None:
    for other in upstream:
        if mesh is None or other not in mesh.projects:
            raise MeshError(f"--upstream {other}: no such project in the mesh", file=mesh_file,
                            hint="projects: " + (", ".join(mesh.projects) if mesh else "none yet"))


def _project_folder(path: Path, mesh_root: Path) -> Path:
    folder = path.resolve()
    if folder == mesh_root or mesh_root not in folder.parents:
        raise MeshError("a project's folder must be inside the mesh's folder", file=folder,
                        hint=f"the mesh is {mesh_root}")
    return folder


# -- new project ----------------------------------------------------------------------------------
def new_project(name: str, *, mesh_path: Path | None = None, path: Path | None = None,
                group: str | None = None, owner_name: str | None = None,
                owner_email: str | None = None, upstream: tuple[str, ...] = (),
                packages: tuple[str, ...] = (), cwd: Path | None = None) -> Created:
    """`meshkit new project`: a dbt project in the mesh's folder (by default `<mesh>/NAME`),
    registered in mesh.yml (written first when there is none), with its profile, group, owner,
    upstream projects, local packages and CI workflow. Nothing is left written on failure.

    Raises:
        MeshError: a name dbt refuses or the mesh already has, an unknown upstream project or
            package, a folder outside the mesh's, or a mesh.yml that no longer loads.
    """
    cwd = (cwd or Path.cwd()).resolve()
    check_name(name, "project")
    group = group or name
    check_name(group, "group")
    mesh_file, creating = _mesh_file(mesh_path, cwd)
    mesh = _load(mesh_file, creating)
    mesh_root = mesh_file.parent
    if mesh:
        _check_free(mesh, name)
    _check_upstream(upstream, mesh, mesh_file)
    folder = _project_folder(path if path is not None else mesh_root / name, mesh_root)
    owner_name = owner_name or f"{name} team"
    package_entries = []
    for package in packages:
        location = _package_folder(package, mesh, mesh_root, cwd)
        package_entries.append(f"  - local: {_rel(location, folder)}\n")
    workflow_path, workflow_text = _workflow("project", name, folder, mesh_file, [folder],
                                             f"--project {name}",
                                             mesh.name if mesh else mesh_name(mesh_root))
    values = {
        "name": name, "group": group, "mesh": mesh.name if mesh else mesh_name(mesh_root),
        "owner_name": _yaml_scalar(owner_name),
        "owner_email_line": f"\n      email: {_yaml_scalar(owner_email)}" if owner_email else "",
        "packages_block": ("packages:\n" + "".join(package_entries)) if package_entries else "",
        "projects_block": "".join(f"\n  - name: {u}" for u in upstream) or " []",
        "workflow": _rel(workflow_path, mesh_root),
    }
    files = render_tree("project", values)
    files["profiles.yml"], notes = _profile_for(name, folder, mesh, mesh_root, list(upstream))
    created = Created("project", name, folder, mesh_file, notes=notes, mesh_created=creating)
    created.files = write_new_folder(folder, files)
    warehouse = mesh_root / "warehouse"
    mesh_text = None if creating else mesh_file.read_text(encoding="utf-8")
    try:
        if "MESHKIT_WAREHOUSE', '" in files["profiles.yml"] and not warehouse.exists():
            # The default DuckDB profile's folder: database files, never committed.
            warehouse.mkdir()
            (warehouse / ".gitignore").write_text("# DuckDB files of the mesh's projects\n*.duckdb*\n")
            created.files.append(warehouse / ".gitignore")
        _write_workflow(workflow_path, workflow_text, created)
        relative = _rel(folder, mesh_root)
        if creating:
            mesh_file.write_text(_new_mesh_text(mesh_root, name, relative), encoding="utf-8")
            created.files.append(mesh_file)
        else:
            _register(mesh_file, "projects", name, relative, f"group {group} ({owner_name})")
        load_mesh(mesh_file)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if workflow_path in created.files:
            workflow_path.unlink(missing_ok=True)
        if warehouse / ".gitignore" in created.files:
            shutil.rmtree(warehouse, ignore_errors=True)
        if creating and mesh_file.exists():
            mesh_file.unlink()
        elif mesh_text is not None:
            mesh_file.write_text(mesh_text, encoding="utf-8")
        raise
    return created


def _yaml_scalar(value: str) -> str:
    return value if re.match(r"^[\w@.+-][\w@.+ -]*$", value) and not value.endswith(" ") \
        else '"' + value.replace('"', '\\"') + '"'


def _check_free(mesh: Mesh, name: str) -> None:
    """One name, one dbt project: a project and a package may not share it."""
    for kind, taken in (("project", mesh.projects), ("package", mesh.packages)):
        if name in taken:
            raise MeshError(f"the mesh already has a {kind} '{name}'", file=mesh.file,
                            hint="choose another name")


def _package_folder(package: str, mesh: Mesh | None, mesh_root: Path, cwd: Path) -> Path:
    if mesh and package in mesh.packages:
        return mesh.packages[package].path
    for candidate in (mesh_root / "packages" / package, cwd / package, mesh_root / package):
        if (candidate / "dbt_project.yml").is_file():
            return candidate.resolve()
    raise MeshError(f"--package {package}: no dbt package there",
                    hint=f"create it with `meshkit new package {package}`, or give its folder")


# -- new package ----------------------------------------------------------------------------------
def new_package(name: str, *, mesh_path: Path | None = None, path: Path | None = None,
                add_to: tuple[str, ...] = (), cwd: Path | None = None) -> Created:
    """`meshkit new package`: an internal dbt package in the mesh (by default
    `<mesh>/packages/NAME`), registered in mesh.yml, installed with `local:` in the projects of
    `add_to`. Nothing is left written on failure.

    Raises MeshError for no mesh.yml, a name dbt refuses or the mesh has, or an unknown
    project in `add_to`."""
    cwd = (cwd or Path.cwd()).resolve()
    check_name(name, "package")
    mesh_file, creating = _mesh_file(mesh_path, cwd)
    if creating:
        raise MeshError("no mesh.yml here or above", hint="create the mesh's first project with "
                        "`meshkit new project NAME` (it writes mesh.yml), or pass --mesh")
    mesh = load_mesh(mesh_file)
    _check_free(mesh, name)
    targets = []
    for project in add_to:
        if project not in mesh.projects:
            raise MeshError(f"--add-to {project}: no such project in the mesh", file=mesh_file,
                            hint="projects: " + ", ".join(mesh.projects))
        targets.append(mesh.projects[project])
    folder = (path if path is not None else mesh_file.parent / "packages" / name).resolve()
    workflow_path, workflow_text = _workflow("package", name, folder, mesh_file,
                                             [t.path for t in targets], "", mesh.name)
    values = {"name": name, "mesh": mesh.name, "workflow": _rel(workflow_path, mesh_file.parent)}
    created = Created("package", name, folder, mesh_file)
    created.files = write_new_folder(folder, render_tree("package", values))
    edited: list[tuple[Path, str | None]] = [(mesh_file, mesh_file.read_text(encoding="utf-8"))]
    try:
        _write_workflow(workflow_path, workflow_text, created)
        for target in targets:
            edited.append(_install(target.path, folder))
            created.notes.append(f"installed in {target.name}: run `dbt deps` there")
        _register(mesh_file, "packages", name, _rel(folder, mesh_file.parent))
        load_mesh(mesh_file)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if workflow_path in created.files:
            workflow_path.unlink(missing_ok=True)
        for file, before in edited:
            if before is None:
                file.unlink(missing_ok=True)
            else:
                file.write_text(before, encoding="utf-8")
        raise
    return created


def _install(project_dir: Path, package: Path) -> tuple[Path, str | None]:
    """Add `- local: …` to a project's packages (dependencies.yml, or packages.yml if it has one)."""
    entry = f"local: {_rel(package, project_dir)}"
    packages_yml = project_dir / "packages.yml"
    file = packages_yml if packages_yml.is_file() else project_dir / "dependencies.yml"
    before = file.read_text(encoding="utf-8") if file.is_file() else None
    if before is None:
        file.write_text(f"packages:\n  - {entry}\n", encoding="utf-8")
        return file, None
    doc = TextDoc(before, str(file))
    data = doc.data if isinstance(doc.data, CommentedMap) else CommentedMap()
    packages = data.get("packages")
    if isinstance(packages, CommentedSeq) and len(packages) and not packages.fa.flow_style():
        span = doc.item_spans(packages)[-1]
        line, column = packages.lc.item(len(packages) - 1)
        dash = doc.lines[line].rfind("-", 0, column)
        lines = list(doc.lines)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.insert(span.end, " " * max(dash, 0) + "- " + entry + "\n")
        file.write_text("".join(lines), encoding="utf-8")
    elif "packages" not in data:
        text = before if before.endswith("\n") or not before else before + "\n"
        file.write_text(f"packages:\n  - {entry}\n" + ("\n" + text if text.strip() else ""),
                        encoding="utf-8")
    else:
        style = guess_style(before)
        data = load(before, str(file))
        if not isinstance(data.get("packages"), list):
            data["packages"] = CommentedSeq()
        data["packages"].append(CommentedMap([("local", _rel(package, project_dir))]))
        file.write_text(dump(data, style), encoding="utf-8")
    return file, before
