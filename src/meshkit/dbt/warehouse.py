"""Run a few statements in a project's warehouse through dbt's own adapter.

`meshkit ci` compares PR relations with production ones and drops PR schemas on any adapter
dbt has; the SQL it sends is plain ANSI (`is not distinct from`, `except all`), and schema
listing, column lookup and dropping go through the adapter's own methods. Run as a
subprocess (`python -m meshkit.dbt.warehouse`), like the relation probe, so dbt's process
state stays out of meshkit. Input on stdin:

    {"project_dir", "profiles_dir", "target", "ops": [op, ...]}

with each op one of {"sql": text}, {"columns": [database, schema, identifier]},
{"schemas": database}, {"create_schema": [database, schema]},
{"drop_schema": [database, schema]}. The answer, one JSON line:
{"results": [...], "error": text | null}; a `sql` result is {"columns": [...], "rows": [...]},
`columns` gives [[name, data_type], ...] ([] when the relation does not exist), `schemas` a
list of names, `create_schema` and `drop_schema` null.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from meshkit.errors import MeshError


@dataclass(frozen=True)
class Warehouse:
    """Where statements run: a project folder, a profiles folder and a dbt target."""

    project_dir: Path
    profiles_dir: Path
    target: str

    def run(self, ops: list[dict]) -> list:
        """The ops' results, in order. Raises MeshError naming the project on any failure."""
        if not ops:
            return []
        request = {"project_dir": str(self.project_dir), "profiles_dir": str(self.profiles_dir),
                   "target": self.target, "ops": ops}
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
        result = subprocess.run([sys.executable, "-m", "meshkit.dbt.warehouse"],
                                input=json.dumps(request), capture_output=True, text=True,
                                env=env, timeout=1800)
        lines = result.stdout.strip().splitlines()
        try:
            answer = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            answer = None
        if os.environ.get("MESHKIT_DEBUG_WAREHOUSE"):
            sys.stderr.write(result.stderr)
        if answer is None or answer.get("error"):
            detail = (answer or {}).get("error") or (result.stderr.strip().splitlines()
                                                     or ["no output"])[-1]
            raise MeshError(f"the warehouse of project '{self.project_dir.name}' (target "
                            f"{self.target}) could not answer: {detail}",
                            file=self.profiles_dir / "profiles.yml",
                            hint="check the connection with `dbt debug` in that project")
        return answer["results"]


def _run(request: dict) -> dict:
    import dbt.adapters.factory as factory

    from meshkit.dbt.probe import adapter_for

    os.chdir(request["project_dir"])   # relative paths in profiles are the project's
    results: list = []
    try:
        adapter = adapter_for(request["project_dir"], request["target"], request["profiles_dir"])
        with adapter.connection_named("meshkit-ci"):
            for op in request["ops"]:
                results.append(_one(adapter, op))
            if adapter.connections.get_thread_connection().transaction_open:
                adapter.connections.commit()   # DDL on PostgreSQL runs in a transaction
    except Exception as exc:   # reported to the caller as one line, never a traceback
        import traceback

        traceback.print_exc()   # on stderr, for `meshkit --debug`
        text = str(exc).strip().splitlines()
        return {"results": results, "error": f"{type(exc).__name__}: {text[0] if text else ''}"}
    finally:
        factory.cleanup_connections()
    return {"results": results, "error": None}


def _one(adapter, op: dict):
    if "sql" in op:
        _, table = adapter.execute(op["sql"], auto_begin=True, fetch=True)
        return {"columns": list(table.column_names),
                "rows": [[_plain(v) for v in row] for row in table.rows]}
    if "columns" in op:
        database, schema, identifier = op["columns"]
        relation = adapter.get_relation(database, schema, identifier)
        if relation is None:
            return []
        return [[c.name, c.data_type] for c in adapter.get_columns_in_relation(relation)]
    if "schemas" in op:
        return sorted(adapter.list_schemas(op["schemas"]))
    if "create_schema" in op:
        database, schema = op["create_schema"]
        adapter.create_schema(adapter.Relation.create(database=database, schema=schema))
        return None
    if "drop_schema" in op:
        database, schema = op["drop_schema"]
        adapter.drop_schema(adapter.Relation.create(database=database, schema=schema))
        return None
    raise ValueError(f"unknown op {sorted(op)}")


def _plain(value):
    """A JSON value: numbers and text as they are, anything else (dates, decimals) as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    return str(value)


if __name__ == "__main__":
    answer = _run(json.load(sys.stdin))
    sys.stdout.write("\n" + json.dumps(answer) + "\n")
