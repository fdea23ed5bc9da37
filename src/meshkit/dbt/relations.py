"""Start the relation probe (meshkit.dbt.probe) and read its answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def relation_key(relation_name: str | None) -> str | None:
    """`"RAW"."jaffle_shop".customers` and `raw.jaffle_shop.customers` are the same table."""
    if not relation_name:
        return None
    return "".join(ch for ch in relation_name if ch not in "\"`[]").lower()


def missing_relations(requests: list[dict]) -> tuple[set[tuple[str, str, str, str]], list[str]]:
    """(project_dir, database, schema, identifier) of relations that do not exist, + warnings."""
    if not any(r["relations"] for r in requests):
        return set(), []
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    result = subprocess.run([sys.executable, "-m", "meshkit.dbt.probe"], input=json.dumps(requests),
                            capture_output=True, text=True, env=env, timeout=600)
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    try:
        answer = json.loads(last)
    except json.JSONDecodeError:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return set(), [f"could not check which relations exist: {detail}"]
    return {tuple(m) for m in answer["missing"]}, answer["warnings"]
