"""`unregistered_internal_package`: a package inside the mesh that a project installs with
`local:` is registered under `packages:` in mesh.yml."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from test_govern_cli import make_mesh, meshkit, two_projects

RULE = "unregistered_internal_package"


def _package(folder: Path, name: str) -> None:
    folder.mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(f"name: {name}\nversion: '1.0'\nconfig-version: 2\n")


def _findings(mesh: Path) -> list[dict]:
    code, out, err = meshkit(mesh, "check", "--rule", RULE, "--format", "json")
    assert code == 0, out + err
    return json.loads(out)["findings"]


def test_an_unregistered_local_package_is_reported_until_mesh_yml_registers_it(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects())
    _package(mesh / "packages" / "shared_utils", "shared_utils")
    _package(tmp_path / "elsewhere", "elsewhere")          # outside the mesh: not an internal package
    (mesh / "finance" / "dependencies.yml").write_text(
        "projects:\n  - name: analytics\npackages:\n  - package: dbt-labs/dbt_utils\n"
        "    version: 1.3.0\n  - local: ../packages/shared_utils\n  - local: ../../elsewhere\n")
    # dbt reads packages.yml when a project has one, so that is the file named.
    (mesh / "analytics" / "packages.yml").write_text("packages:\n  - local: ../packages/shared_utils\n")

    findings = _findings(mesh)
    assert [(f["project"], f["severity"], f["key"]) for f in findings] == [
        ("analytics", "warn", "packages/shared_utils"), ("finance", "warn", "packages/shared_utils")]
    assert findings[1]["message"] == (
        "installs the internal package packages/shared_utils, which mesh.yml does not register: "
        "add `shared_utils: packages/shared_utils` under packages: in mesh.yml")
    assert (findings[1]["file"], findings[1]["line"]) == ("finance/dependencies.yml", 6)
    assert (findings[0]["file"], findings[0]["line"]) == ("analytics/packages.yml", 2)
    code, out, _ = meshkit(mesh, "check", "--rule", RULE, "--format", "github")
    assert "file=finance/dependencies.yml,line=6" in out

    with (mesh / "mesh.yml").open("a") as file:
        file.write("packages:\n  shared_utils: packages/shared_utils\n")
    assert _findings(mesh) == []


def test_silent_without_local_packages_and_listed_with_the_rules(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects())
    assert _findings(mesh) == []
    code, out, _ = meshkit(mesh, "rules", "--json")
    rule = next(r for r in json.loads(out) if r["id"] == RULE)
    assert rule["category"] == "structure" and rule["default"] == "warn"


@pytest.mark.e2e
def test_the_example_mesh_registers_its_package(built_mesh):
    assert _findings(built_mesh) == []
    mesh_yml = built_mesh / "mesh.yml"
    mesh_yml.write_text(re.sub(r"(?m)^packages:\n(  .*\n)+", "", mesh_yml.read_text()))
    assert [(f["file"], f["line"]) for f in _findings(built_mesh)] == [("finance/dependencies.yml", 2)]


def test_a_mesh_project_installed_as_a_package_fails_check_and_build_names_the_line(tmp_path):
    """The package hack: dbt builds the installed project's models a second time."""
    mesh = make_mesh(tmp_path / "m", *two_projects())
    (mesh / "finance" / "packages.yml").write_text(
        "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n  - local: ../analytics\n")
    code, out, err = meshkit(mesh, "check", "--rule", "project_installed_as_package",
                             "--format", "json")
    assert code == 1, out + err
    [finding] = json.loads(out)["findings"]
    assert (finding["project"], finding["severity"], finding["key"]) == ("finance", "error", "analytics")
    assert (finding["file"], finding["line"]) == ("finance/packages.yml", 4)
    assert "meshkit connect apply" in finding["message"]
    # The registered-package rule does not mistake a project for a package, nor stay silent.
    assert _findings(mesh) == []

    code, out, err = meshkit(mesh, "build")
    assert code != 0
    text = re.sub(r"\s+", " ", out + err)
    assert "packages.yml:4" in text and "installs the mesh project 'analytics' as a package" in text
    assert "meshkit connect plan" in text


def test_a_hub_or_git_install_of_a_mesh_project_is_found_by_its_locked_name(tmp_path):
    from meshkit.config import load_mesh
    from meshkit.config.package_hack import projects_installed_as_packages

    mesh = make_mesh(tmp_path / "m", *two_projects())
    (mesh / "finance" / "packages.yml").write_text(
        "packages:\n  - git: https://example.invalid/analytics.git\n    revision: v1\n")
    (mesh / "finance" / "package-lock.yml").write_text(
        "packages:\n  - git: https://example.invalid/analytics.git\n    revision: v1\n"
        "    name: analytics\nsha1_hash: x\n")
    [install] = projects_installed_as_packages(load_mesh(mesh / "mesh.yml"))
    assert (install.project, install.installed, install.how) == ("finance", "analytics", "package-lock.yml")
