"""`meshkit new project|package`: a new domain project builds at once and passes `meshkit check`;
templates, registration in mesh.yml (comments kept), and refusals."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import duckdb
import pytest
import yaml

from meshkit.config import load_mesh

from conftest import meshkit_json, run


def test_a_new_project_and_package_build_at_once_and_pass_check(tmp_path):
    mesh = tmp_path / "acme"
    mesh.mkdir()
    created = meshkit_json(["new", "project", "sales", "--owner-name", "Sales Ops",
                            "--owner-email", "sales@acme.example"], cwd=mesh)
    assert created["mesh_created"] and Path(created["mesh"]) == mesh / "mesh.yml"
    assert yaml.safe_load((mesh / "mesh.yml").read_text())["projects"] == {"sales": "sales"}
    package = meshkit_json(["new", "package", "acme_utils", "--add-to", "sales"], cwd=mesh / "sales")
    assert Path(package["path"]) == mesh / "packages" / "acme_utils"
    assert yaml.safe_load((mesh / "mesh.yml").read_text())["packages"] == {
        "acme_utils": "packages/acme_utils"}
    assert yaml.safe_load((mesh / "sales/dependencies.yml").read_text()) == {
        "packages": [{"local": "../packages/acme_utils"}], "projects": []}
    # A model of the team's own, using the internal package's macro.
    (mesh / "sales/models/marts/win_rate.sql").write_text(
        "select {{ acme_utils.safe_divide('3', '4') }} as win_rate\n")

    build = meshkit_json(["build"], cwd=mesh)
    assert build["status"] == "success", build
    assert {n["node"]: n["status"] for n in build["nodes"]} == {
        "sales.sales_welcome": "success", "sales.win_rate": "success"}
    assert build["published"]["sales"]
    con = duckdb.connect(str(mesh / "warehouse" / "sales.duckdb"), read_only=True)
    assert con.execute("select win_rate from main.win_rate").fetchone() == (0.75,)
    assert con.execute("select count(*) from main.sales_welcome").fetchone() == (1,)
    con.close()

    check = run(["meshkit", "check"], cwd=mesh, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 error(s)" in check.stdout and "unregistered_internal_package" not in check.stdout
    manifest = json.loads((mesh / "sales/target/manifest.json").read_text())
    welcome = manifest["nodes"]["model.sales.sales_welcome"]
    assert welcome["config"]["group"] == "sales" and welcome["config"]["access"] == "private"
    assert manifest["groups"]["group.sales.sales"]["owner"]["email"] == "sales@acme.example"


def test_the_project_template(tmp_path):
    (tmp_path / ".git").mkdir()
    mesh = tmp_path / "data"
    mesh.mkdir()
    meshkit_json(["new", "project", "ops"], cwd=mesh)
    run(["meshkit", "new", "package", "ops_utils"], cwd=mesh)
    created = meshkit_json(["new", "project", "growth", "--upstream", "ops", "--package", "ops_utils",
                            "--group", "growth_team"], cwd=mesh)
    folder = Path(created["path"])
    config = yaml.safe_load((folder / "dbt_project.yml").read_text())
    assert config["name"] == "growth" and config["profile"] == "growth"
    assert config["models"]["growth"]["+access"] == "private"
    assert config["models"]["growth"]["+group"] == "growth_team"
    groups = yaml.safe_load((folder / "models/groups.yml").read_text())["groups"]
    assert groups == [{"name": "growth_team", "owner": {"name": "growth team"}}]
    assert yaml.safe_load((folder / "dependencies.yml").read_text()) == {
        "packages": [{"local": "../packages/ops_utils"}], "projects": [{"name": "ops"}]}
    profile = yaml.safe_load((folder / "profiles.yml").read_text())["growth"]["outputs"]["prod"]
    assert profile["path"].endswith("/growth.duckdb")
    assert [a["path"].rsplit("/", 1)[-1] for a in profile["attach"]] == ["ops.duckdb"]
    # CI at the repository's root, scoped to the project's folder
    workflow = (tmp_path / ".github/workflows/meshkit-growth.yml").read_text()   # YAML 1.1: `on` is True
    parsed = yaml.safe_load(workflow)
    assert parsed[True]["pull_request"]["paths"] == ["data/growth/**", "data/mesh.yml"]
    steps = [s.get("run", "") for s in parsed["jobs"]["govern"]["steps"]]
    assert "meshkit check --project growth --format github" in steps
    assert "meshkit diff --against prod --project growth --format github" in steps
    assert parsed["jobs"]["govern"]["defaults"]["run"]["working-directory"] == "data"
    mesh_ci = [s.get("run", "") for s in parsed["jobs"]["mesh-ci"]["steps"]]
    assert any(r.startswith("meshkit ci --pr ${{ github.event.pull_request.number }}") for r in mesh_ci)
    assert parsed["jobs"]["mesh-ci-cleanup"]["steps"][-1]["run"] == \
        "meshkit ci cleanup --pr ${{ github.event.pull_request.number }}"
    package_ci = yaml.safe_load((tmp_path / ".github/workflows/meshkit-ops_utils.yml").read_text())
    assert package_ci[True]["pull_request"]["paths"][0] == "data/packages/ops_utils/**"
    for path in [*folder.rglob("*"), *(mesh / "packages/ops_utils").rglob("*")]:
        if path.is_file():
            assert "[[" not in path.read_text(), path
    assert (folder / ".gitignore").read_text().startswith("target/")


def test_registration_keeps_mesh_yml_as_written(tmp_path):
    mesh_yml = tmp_path / "mesh.yml"
    mesh_yml.write_text(textwrap.dedent("""\
        # Our mesh. Ask #data-platform before adding projects.
        name: acme
        store: .meshkit/store   # shared with CI

        projects:
          # the first domain
          ops: ops

        # Policies come later.
        """))
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops/dbt_project.yml").write_text("name: ops\nprofile: ops\nconfig-version: 2\nversion: '1'\n")
    run(["meshkit", "new", "project", "billing", "--owner-name", "Billing"], cwd=tmp_path)
    run(["meshkit", "new", "package", "acme_utils"], cwd=tmp_path)
    run(["meshkit", "new", "package", "billing_utils", "--add-to", "billing"], cwd=tmp_path)
    assert mesh_yml.read_text() == textwrap.dedent("""\
        # Our mesh. Ask #data-platform before adding projects.
        name: acme
        store: .meshkit/store   # shared with CI

        projects:
          # the first domain
          ops: ops
          billing: billing   # group billing (Billing)

        # The mesh's internal dbt packages: projects install them with `local:`.
        packages:
          acme_utils: packages/acme_utils
          billing_utils: packages/billing_utils

        # Policies come later.
        """)
    mesh = load_mesh(mesh_yml)
    assert list(mesh.packages) == ["acme_utils", "billing_utils"]
    assert mesh.packages["billing_utils"].path == (tmp_path / "packages/billing_utils").resolve()


@pytest.mark.parametrize("args, message", [
    (["new", "project", "Sales-Team"], "'Sales-Team' is not a valid project name"),
    (["new", "project", "ops"], "the mesh already has a project 'ops'"),
    (["new", "project", "ops_utils"], "the mesh already has a package 'ops_utils'"),
    (["new", "project", "web", "--upstream", "nope"], "--upstream nope: no such project in the mesh"),
    (["new", "project", "web", "--package", "nope"], "--package nope: no dbt package there"),
    (["new", "package", "ops"], "the mesh already has a project 'ops'"),
    (["new", "package", "ops_utils"], "the mesh already has a package 'ops_utils'"),
    (["new", "package", "utils", "--add-to", "nope"], "--add-to nope: no such project in the mesh"),
])
def test_refusals(tmp_path, args, message):
    run(["meshkit", "new", "project", "ops"], cwd=tmp_path)
    run(["meshkit", "new", "package", "ops_utils"], cwd=tmp_path)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    mesh_text = (tmp_path / "mesh.yml").read_text()
    result = run(["meshkit", *args], cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "mesh.yml").read_text() == mesh_text


def test_an_existing_folder_is_never_written_over(tmp_path):
    run(["meshkit", "new", "project", "ops"], cwd=tmp_path)
    (tmp_path / "web").mkdir()
    (tmp_path / "web/notes.txt").write_text("mine")
    result = run(["meshkit", "new", "project", "web"], cwd=tmp_path, check=False)
    assert result.returncode == 2 and "already exists and is not empty" in result.stderr
    assert (tmp_path / "web/notes.txt").read_text() == "mine"
    assert "web" not in yaml.safe_load((tmp_path / "mesh.yml").read_text())["projects"]


@pytest.mark.parametrize("kind", ["project", "package"])
def test_the_templates_configure_only_paths_that_exist(kind):
    """dbt warns "There are N unused configuration paths" on every parse of a new project for
    each `models:`/`seeds:`/`snapshots:` path no resource of the scaffold lives under."""
    from meshkit.scaffold import render_tree, templates

    keys = {m for p in (templates() / kind).rglob("*.tmpl")
            for m in re.findall(r"\[\[(\w+)\]\]", p.read_text())}
    files = render_tree(kind, {key: "sales" for key in keys})
    config = yaml.safe_load(files["dbt_project.yml"])

    def paths(block, prefix):
        for key, value in (block or {}).items():
            if not key.startswith("+") and isinstance(value, dict):
                yield prefix + (key,)
                yield from paths(value, prefix + (key,))

    folders = {"models": config.get("model-paths", ["models"]),
               "seeds": config.get("seed-paths", ["seeds"]),
               "snapshots": config.get("snapshot-paths", ["snapshots"])}
    for resource, roots in folders.items():
        for path in paths(config.get(resource), ()):
            assert path[0] == "sales", path
            below = "/".join(path[1:])
            assert any(f.startswith(f"{root}/{below}".rstrip("/") + "/") and
                       f.endswith((".sql", ".csv", ".py")) for root in roots for f in files), \
                f"{resource}.{'.'.join(path)} matches no file the scaffold writes"
