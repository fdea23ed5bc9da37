"""Small dbt meshes written from Python, for tests that need shapes the example lacks."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_mesh(root: Path, projects: dict[str, dict[str, str]],
               public: dict[str, list[str]] | None = None,
               extra_yaml: dict[str, str] | None = None, adapter: str = "duckdb") -> Path:
    """A mesh: `projects` maps project → {model name: SQL}.

    On DuckDB every project writes warehouse/<project>.duckdb and attaches the files of the
    projects it refs read-only; on PostgreSQL (MESHKIT_PG_* variables) every project builds
    into its own schema of one database. `dependencies.yml` lists the projects each refs.
    Models named in `public` get `access: public`. Returns the mesh folder (with mesh.yml).
    """
    public = public or {}
    (root / "warehouse").mkdir(parents=True, exist_ok=True)
    for project, models in projects.items():
        upstream = sorted({other for other in projects if other != project
                           and any(f"ref('{other}'" in sql for sql in models.values())})
        folder = root / project
        (folder / "models").mkdir(parents=True, exist_ok=True)
        (folder / "dbt_project.yml").write_text(textwrap.dedent(f"""\
            name: {project}
            version: "1.0"
            profile: {project}
            models:
              {project}:
                +materialized: table
        """))
        (folder / "profiles.yml").write_text(_profile(project, upstream, adapter))
        if upstream:
            (folder / "dependencies.yml").write_text(
                "projects:\n" + "".join(f"  - name: {u}\n" for u in upstream))
        for name, sql in models.items():
            (folder / "models" / f"{name}.sql").write_text(textwrap.dedent(sql).strip() + "\n")
        entries = [f"  - name: {m}\n    access: public\n" for m in public.get(project, [])]
        (folder / "models" / "models.yml").write_text(
            "version: 2\nmodels:\n" + "".join(entries) + (extra_yaml or {}).get(project, "")
            if entries or (extra_yaml or {}).get(project) else "version: 2\n")
    (root / "mesh.yml").write_text("name: test-mesh\nprojects:\n" +
                                   "".join(f"  {p}: {p}\n" for p in projects))
    return root


def _profile(project: str, upstream: list[str], adapter: str) -> str:
    if adapter == "postgres":
        return textwrap.dedent(f"""\
            {project}:
              target: prod
              outputs:
                prod:
                  type: postgres
                  host: "{{{{ env_var('MESHKIT_PG_HOST') }}}}"
                  port: "{{{{ env_var('MESHKIT_PG_PORT') | as_number }}}}"
                  user: "{{{{ env_var('MESHKIT_PG_USER') }}}}"
                  password: "{{{{ env_var('MESHKIT_PG_PASSWORD', '') }}}}"
                  dbname: "{{{{ env_var('MESHKIT_PG_DBNAME') }}}}"
                  schema: {project}
                  threads: 2
            """)
    attach = "".join(f"\n        - path: ../warehouse/{u}.duckdb\n          read_only: true"
                     for u in upstream)
    return textwrap.dedent(f"""\
        {project}:
          target: prod
          outputs:
            prod:
              type: duckdb
              path: ../warehouse/{project}.duckdb
              schema: main
              threads: 2
              attach:""") + (attach or " []") + "\n"


# Three projects that depend on each other in both directions, without a model cycle:
#   alpha.a_base → beta.b_mid → alpha.a_top → gamma.g_top
#   alpha.a_base → gamma.g_mid → beta.b_top
TRIANGLE = {
    "alpha": {
        "a_base": " union all ".join(f"select {i} as id, {i * 10} as amount" for i in range(1, 6)),
        "a_top": "select id, amount + 1 as amount from {{ ref('beta', 'b_mid') }}",
    },
    "beta": {
        "b_mid": "select id, amount * 2 as amount from {{ ref('alpha', 'a_base') }}",
        "b_top": "select sum(amount) as total from {{ ref('gamma', 'g_mid') }}",
    },
    "gamma": {
        "g_mid": "select id, amount + 100 as amount from {{ ref('alpha', 'a_base') }}",
        "g_top": "select count(*) as n, sum(amount) as total from {{ ref('alpha', 'a_top') }}",
    },
}
TRIANGLE_PUBLIC = {"alpha": ["a_base", "a_top"], "beta": ["b_mid"], "gamma": ["g_mid"]}
