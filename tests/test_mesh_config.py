"""mesh.yml: loading, defaults, and one clear message per bad input (file and line)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from meshkit.config import find_mesh_file, load_mesh
from meshkit.errors import MeshError

from conftest import run


def _project(root: Path, folder: str, name: str | None = None) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / "dbt_project.yml").write_text(f"name: {name or folder}\nversion: '1.0'\n")


def _mesh(root: Path, text: str) -> Path:
    path = root / "mesh.yml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _error(path: Path) -> MeshError:
    with pytest.raises(MeshError) as info:
        load_mesh(path)
    return info.value


def test_minimal_mesh_gets_defaults(tmp_path):
    _project(tmp_path, "analytics")
    mesh = load_mesh(_mesh(tmp_path, """
        name: demo
        projects:
          analytics: analytics
    """))
    assert mesh.name == "demo"
    assert mesh.projects["analytics"].path == (tmp_path / "analytics").resolve()
    assert mesh.default_environment == "prod"
    assert mesh.environments["prod"].target == "prod"
    assert mesh.store_url == str((tmp_path / ".meshkit" / "store").resolve())


def test_environments_and_long_project_form(tmp_path):
    _project(tmp_path, "a")
    mesh = load_mesh(_mesh(tmp_path, """
        name: demo
        store: s3://bucket/mesh
        environments:
          prod: {target: production, type: production}
          staging: {target: stg, type: staging}
          dev: {target: dev, type: development, upstream_environment: prod}
        projects:
          a: {path: a, environments: [prod, dev]}
    """))
    assert mesh.store_url == "s3://bucket/mesh"
    assert mesh.environments["staging"].target == "stg"
    assert mesh.environments["dev"].upstream_environment == "prod"
    assert mesh.projects["a"].environments == ("prod", "dev")


def test_missing_file_says_where_to_look(tmp_path):
    err = _error(tmp_path / "mesh.yml")
    assert err.file == str(tmp_path / "mesh.yml")
    assert "not found" in err.message and "MESHKIT_MESH" in err.hint


def test_unknown_key_names_key_and_line(tmp_path):
    _project(tmp_path, "analytics")
    err = _error(_mesh(tmp_path, """
        name: demo
        projects:
          analytics: analytics
        storage: somewhere
    """))
    assert "unknown field `storage`" in err.message
    assert err.line == 4


def test_unknown_key_inside_an_environment(tmp_path):
    _project(tmp_path, "analytics")
    err = _error(_mesh(tmp_path, """
        name: demo
        environments:
          prod:
            target: prod
            taget: typo
        projects:
          analytics: analytics
    """))
    assert "unknown field `taget`" in err.message and "environments.prod" in err.message
    assert err.line == 5


def test_project_path_that_does_not_exist(tmp_path):
    err = _error(_mesh(tmp_path, """
        name: demo
        projects:
          analytics: analytics
          finance: ./nowhere
    """))
    assert "project 'analytics': path 'analytics' does not exist" in err.message
    assert err.line == 3
    assert "dbt_project.yml" in err.hint


def test_duplicate_project_name(tmp_path):
    _project(tmp_path, "analytics")
    err = _error(_mesh(tmp_path, """
        name: demo
        projects:
          analytics: analytics
          analytics: analytics
    """))
    assert 'duplicate key "analytics"' in err.message
    assert err.line == 4


def test_project_key_must_match_dbt_project_name(tmp_path):
    _project(tmp_path, "fin", name="finance")
    err = _error(_mesh(tmp_path, """
        name: demo
        projects:
          fin: fin
    """))
    assert "named 'finance'" in err.message and err.line == 3


def test_internal_packages_short_and_long_form(tmp_path):
    _project(tmp_path, "analytics")
    _project(tmp_path, "packages/utils", name="utils")
    _project(tmp_path, "packages/more", name="more")
    mesh = load_mesh(_mesh(tmp_path, """
        name: demo
        projects:
          analytics: analytics
        packages:
          utils: packages/utils
          more: {path: packages/more}
    """))
    assert {p.name: p.path for p in mesh.packages.values()} == {
        "utils": (tmp_path / "packages/utils").resolve(), "more": (tmp_path / "packages/more").resolve()}
    assert list(mesh.projects) == ["analytics"]


@pytest.mark.parametrize("entry, message", [
    ("utils: packages/nowhere", "package 'utils': path 'packages/nowhere' does not exist"),
    ("tools: packages/utils", "package 'tools': packages/utils/dbt_project.yml is named 'utils'"),
    ("analytics: analytics", "'analytics' is registered both as a project and as a package"),
    ("utils: {path: packages/utils, owner: me}", "unknown field `owner` (at packages.utils)"),
])
def test_package_errors_name_file_and_line(tmp_path, entry, message):
    _project(tmp_path, "analytics")
    _project(tmp_path, "packages/utils", name="utils")
    path = _mesh(tmp_path, f"""
        name: demo
        projects:
          analytics: analytics
        packages:
          {entry}
    """)
    err = _error(path)
    assert message in err.message
    assert err.file == str(path.resolve()) and err.line == 5


def test_invalid_yaml_gives_line(tmp_path):
    err = _error(_mesh(tmp_path, "name: demo\nprojects: [unclosed\n"))
    assert "invalid YAML" in err.message and err.line is not None


def test_wrong_type_and_missing_name(tmp_path):
    _project(tmp_path, "a")
    err = _error(_mesh(tmp_path, """
        projects:
          a: a
    """))
    assert "missing required field `name`" in err.message
    err = _error(_mesh(tmp_path, """
        name: demo
        environments:
          prod: {target: prod, type: live}
        projects:
          a: a
    """))
    assert "environments.prod.type" in err.message and err.line == 3


def test_exactly_one_production_environment(tmp_path):
    _project(tmp_path, "a")
    err = _error(_mesh(tmp_path, """
        name: demo
        environments:
          dev: {target: dev, type: development}
        projects:
          a: a
    """))
    assert "exactly one environment must have type: production" in err.message


def test_find_mesh_walks_up_and_honours_variable(tmp_path, monkeypatch):
    _project(tmp_path, "a")
    path = _mesh(tmp_path, "name: demo\nprojects:\n  a: a\n")
    assert find_mesh_file(tmp_path / "a") == path
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setenv("MESHKIT_MESH", str(tmp_path))
    assert find_mesh_file(other) == path


def test_cli_reports_bad_mesh_without_traceback(tmp_path):
    _mesh(tmp_path, "name: demo\nprojects:\n  analytics: analytics\n")
    result = run(["meshkit", "build"], cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "mesh.yml:3: project 'analytics': path 'analytics' does not exist" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("setting, expected", [
    ("", ()),
    ("catalog: {remote_images: false}", ()),
    ("catalog: {remote_images: true}", ("https:",)),
    ("catalog: {remote_images: [https://IMG.example.com/, 'https://cdn.example.org']}",
     ("https://img.example.com", "https://cdn.example.org")),
])
def test_catalog_remote_images_opt_in(tmp_path, setting, expected):
    _project(tmp_path, "analytics")
    mesh = load_mesh(_mesh(tmp_path, "name: demo\nprojects: {analytics: analytics}\n" + setting))
    assert mesh.remote_images == expected


def test_catalog_remote_images_must_be_https_origins(tmp_path):
    _project(tmp_path, "analytics")
    error = _error(_mesh(tmp_path, """
        name: demo
        projects: {analytics: analytics}
        catalog:
          remote_images:
            - http://img.example.com
    """))
    assert "'http://img.example.com' is not an https origin" in error.message and error.line == 5
