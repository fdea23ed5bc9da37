"""Ask the warehouse, through dbt's own adapter, which relations exist.

Run as a subprocess (`python -m meshkit.dbt.probe`): it reads, on stdin, a JSON list of
{"project_dir", "target", "relations": [[database, schema, identifier], ...]} and prints
{"missing": [[project_dir, database, schema, identifier], ...], "warnings": [...]}. Any dbt
adapter works, since only `list_relations_without_caching` is used; a project whose adapter
cannot answer is reported as a warning, never as missing relations.
"""

from __future__ import annotations

import json
import os
import sys
from argparse import Namespace
from collections import defaultdict


def adapter_for(project_dir: str, target: str, profiles_dir: str | None = None):
    """dbt's adapter for a project and target, its macros loaded (the process's only one)."""
    import dbt.adapters.factory as factory
    from dbt.config.runtime import RuntimeConfig
    from dbt.context.providers import generate_runtime_macro_context
    from dbt.flags import set_from_args
    from dbt.mp_context import get_mp_context
    from dbt.parser.manifest import ManifestLoader
    from dbt_common.context import set_invocation_context

    set_invocation_context(os.environ)
    profiles_dir = profiles_dir or os.environ.get("DBT_PROFILES_DIR") or (
        project_dir if os.path.isfile(os.path.join(project_dir, "profiles.yml"))
        else os.path.expanduser("~/.dbt"))
    args = Namespace(project_dir=project_dir, profiles_dir=profiles_dir, target=target,
                     threads=None, vars={}, profile=None)
    set_from_args(args, None)
    config = RuntimeConfig.from_args(args)
    factory.reset_adapters()
    factory.register_adapter(config, get_mp_context())
    adapter = factory.get_adapter(config)
    adapter.set_macro_resolver(ManifestLoader.load_macros(config, adapter.connections.set_query_header))
    adapter.set_macro_context_generator(generate_runtime_macro_context)
    return adapter


def probe(requests: list[dict]) -> dict:
    """Which of the requested relations are missing from the warehouse.

    `requests`: one per project, `{project_dir, target, relations: [[database, schema,
    identifier], …]}`. Returns `{missing: [[project_dir, database, schema, identifier], …],
    warnings: [str]}`; a project whose adapter cannot list relations gives a warning, never
    an error. Runs in its own process (`python -m meshkit.dbt.probe`), as it opens each
    project's adapter through dbt's factory."""
    import dbt.adapters.factory as factory

    missing, warnings = [], []
    for request in requests:
        project_dir = request["project_dir"]
        cwd = os.getcwd()
        os.chdir(project_dir)  # relative paths in profiles are relative to the project
        try:
            adapter = adapter_for(project_dir, request["target"])
            wanted = defaultdict(set)
            for database, schema, identifier in request["relations"]:
                wanted[(database, schema)].add(identifier)
            with adapter.connection_named("meshkit-probe"):
                for (database, schema), identifiers in wanted.items():
                    where = adapter.Relation.create(database=database, schema=schema)
                    existing = {r.identifier.lower() for r in adapter.list_relations_without_caching(where)}
                    missing += [[project_dir, database, schema, i] for i in sorted(identifiers)
                                if i.lower() not in existing]
        except Exception as exc:  # an adapter that cannot answer degrades to a warning
            warnings.append(f"{project_dir}: could not list relations ({type(exc).__name__}: "
                            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})")
        finally:
            factory.cleanup_connections()
            os.chdir(cwd)
    return {"missing": missing, "warnings": warnings}


if __name__ == "__main__":
    result = probe(json.load(sys.stdin))
    sys.stdout.write("\n" + json.dumps(result) + "\n")
