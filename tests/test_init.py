"""`meshkit init`: a mesh.yml around dbt projects that already exist, on plain folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from meshkit.cli import main
from meshkit.config.mesh import load_mesh
from meshkit.errors import MeshError
from meshkit.scaffold.init import find_projects, plan_init, write_init


def _project(folder: Path, name: str, *, target: str = "dev", targets=("dev",), extra: str = "",
             files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(f"name: {name}\nversion: '1.0'\nprofile: {name}\n{extra}")
    outputs = "".join(f"    {t}: {{type: duckdb, path: {name}.duckdb}}\n" for t in targets)
    (folder / "profiles.yml").write_text(f"{name}:\n  target: {target}\n  outputs:\n{outputs}")
    for rel, text in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


@pytest.fixture
def loom_mesh(tmp_path: Path) -> Path:
    """Two dbt-loom projects (dbt-loom's names are free text: 'potato' is revenue's manifest), a local package both install, and noise init must skip."""
    _project(tmp_path / "revenue", "revenue",
             files={"dbt_loom.config.yml": "manifests:\n  - name: cs\n    optional: true\n"
                                           "    config: {path: ../customer_success/target/m.json}\n",
                    "packages.yml": "packages:\n  - local: ../shared/utils\n",
                    "dbt_packages/dbt_utils/dbt_project.yml": "name: dbt_utils\n"})
    _project(tmp_path / "customer_success", "customer_success",
             files={"dbt_loom.config.yml": "manifests:\n  - name: potato\n    type: file\n"
                                           "    config: {path: ../revenue/target/manifest.json}\n"
                                           "  - name: billing\n    type: file\n"
                                           "    config: {path: /elsewhere/manifest.json}\n",
                    "dependencies.yml": "# keep me\npackages:\n  - local: ../shared/utils\n",
                    "models/accounts.sql": "select * from {{ ref( 'revenue' , 'orders') }}"})
    (tmp_path / "shared" / "utils").mkdir(parents=True)
    (tmp_path / "shared" / "utils" / "dbt_project.yml").write_text("name: utils\nversion: '1'\n")
    (tmp_path / ".venv" / "lib" / "x").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "x" / "dbt_project.yml").write_text("name: hidden\n")
    return tmp_path


def test_projects_packages_and_loom_upstreams_become_a_mesh_that_loads(loom_mesh: Path):
    assert [p.name for p in find_projects(loom_mesh)] == ["customer_success", "revenue", "utils"]
    plan = plan_init(loom_mesh)
    write_init(plan)
    mesh = load_mesh(loom_mesh / "mesh.yml")
    assert mesh.name == loom_mesh.name.lower().replace("_", "-")
    assert set(mesh.projects) == {"customer_success", "revenue"}
    assert set(mesh.packages) == {"utils"}
    assert mesh.environments["prod"].target == "dev"
    dependencies = (loom_mesh / "customer_success" / "dependencies.yml").read_text()
    assert "# keep me" in dependencies and "local: ../shared/utils" in dependencies
    assert "- name: revenue" in dependencies and "billing" not in dependencies
    assert not (loom_mesh / "revenue" / "dependencies.yml").exists(), "revenue refs nothing"
    assert any("revenue: dbt-loom reads customer_success, but no file refs it" in n
               for n in plan.notes)
    assert any("billing" in n and "which is no project below this folder" in n for n in plan.notes)


def test_production_is_the_target_every_profile_has_when_defaults_differ(tmp_path: Path):
    _project(tmp_path / "a", "a", target="dev", targets=("dev", "prod"))
    _project(tmp_path / "b", "b", target="local", targets=("local", "prod"))
    assert "    target: prod\n" in plan_init(tmp_path).mesh_text


def test_refusals_name_the_file_and_write_nothing(tmp_path: Path):
    with pytest.raises(MeshError, match="no dbt project"):
        plan_init(tmp_path)
    _project(tmp_path / "one", "same")
    _project(tmp_path / "two", "same")
    with pytest.raises(MeshError, match="two dbt projects are named 'same': one and two"):
        plan_init(tmp_path)
    assert not (tmp_path / "mesh.yml").exists()
    (tmp_path / "mesh.yml").write_text("name: x\n")
    with pytest.raises(MeshError, match="already defined") as error:
        plan_init(tmp_path)
    assert error.value.file == str((tmp_path / "mesh.yml").resolve())


def test_the_command_writes_or_only_shows(loom_mesh: Path):
    runner = CliRunner()
    shown = runner.invoke(main, ["init", str(loom_mesh), "--dry-run"])
    assert shown.exit_code == 0, shown.output
    assert "projects:\n  customer_success: customer_success\n  revenue: revenue" in shown.output
    assert not (loom_mesh / "mesh.yml").exists()
    written = runner.invoke(main, ["init", str(loom_mesh), "--name", "loom"])
    assert written.exit_code == 0, written.output
    assert load_mesh(loom_mesh / "mesh.yml").name == "loom"
    again = runner.invoke(main, ["init", str(loom_mesh)])
    assert again.exit_code == 2 and "already defined" in again.output
