"""Stages that place a project's inputs — snapshots, seeds, source definitions, raw data —
where the models that read them went. Seeds and sources are copied into every project that
reads them (a mesh has no cross-project `source()` or seed ref); a snapshot cannot be."""

from __future__ import annotations

from collections import defaultdict

from meshkit.split.plan import Blocker, folder_home
from meshkit.split.stages.state import Split


def assign_snapshots(split: Split) -> None:
    """A snapshot goes to its group's project, else to the one project of the models reading
    it, else (read by nothing) to its folder's; read by several projects, it is blocked."""
    homes = split.model_homes_by_file()
    for node in split.nodes.values():
        if node.resource_type != "snapshot" or node.unique_id in split.dest:
            continue
        home = split.home_of(node)
        readers = split.readers(node.unique_id, ("model",))
        if home is None:
            home = next(iter(readers)) if len(readers) == 1 else None
        if home is None and not readers:
            home = folder_home(split.source, node.original_file_path, homes) or split.sole_project() \
                or (split.input_home(node) if split.options.by == "select" else None)
        if home is None:
            split.blockers.append(Blocker(
                f"snapshot '{node.name}' has no group and is read by several projects "
                f"({', '.join(sorted(readers))})", file=node.original_file_path,
                hint="give it a group; other projects then read it through a public model"))
            continue
        split.dest[node.unique_id] = {home}


def check_shared_snapshots(split: Split) -> None:
    """Blocks a snapshot read by models or snapshots of another project than its own."""
    for node in split.nodes.values():
        if node.resource_type != "snapshot" or node.unique_id not in split.dest:
            continue
        home = next(iter(split.dest[node.unique_id]))
        others = split.readers(node.unique_id, ("model", "snapshot")) - {home}
        if others:
            split.blockers.append(Blocker(
                f"snapshot '{node.name}' ({home}) is read by models of {', '.join(sorted(others))}; "
                f"a snapshot cannot be shared across projects", file=node.original_file_path,
                hint=f"add a public model in {home} that selects from it, and ref that instead"))


def assign_seeds(split: Split) -> None:
    """A seed is copied into its own project and every project whose models read it (by ref,
    or by source() of its table); read by nothing, it goes to its folder's project."""
    homes = split.model_homes_by_file()
    by_table = split.source_readers_by_table()
    for node in split.nodes.values():
        if node.resource_type != "seed":
            continue
        home = split.input_home(node) if split.options.by == "group" or node.unique_id in split.dest else None
        projects = split.readers(node.unique_id, ("model", "snapshot"))
        # Raw data as a seed that models read through a source: it goes where they are.
        projects |= by_table.get((node.alias or node.name).lower(), set())
        if home:
            projects.add(home)
        if not projects:
            fallback = split.input_home(node) if split.options.by == "select" else \
                folder_home(split.source, node.original_file_path, homes) or split.sole_project()
            if fallback is None:
                split.blockers.append(Blocker(
                    f"seed '{node.name}' has no group and nothing reads it", file=node.original_file_path,
                    hint="give it a group (`+group:` for its folder under `seeds:` in dbt_project.yml)"))
                continue
            projects = {fallback}
        split.dest[node.unique_id] = projects


def assign_sources(split: Split) -> None:
    """A source definition is copied into every project that reads it; read by nothing, it
    goes where its siblings (same `source_name`) or its folder went, else it is left out."""
    by_source = _place_read_sources(split)
    homes = split.model_homes_by_file()
    for uid, source in split.sources.items():
        if uid in split.dest:
            continue
        siblings = by_source.get(source.source_name)
        home = (sorted(siblings)[0] if siblings and len(siblings) == 1 else None) \
            or folder_home(split.source, source.original_file_path, homes) or split.sole_project()
        if home is None and siblings:
            home = sorted(siblings)[0]
        if home is None:
            split.warnings.append(f"source {source.source_name}.{source.name} is read by nothing "
                                  f"and no project is its obvious home: left out")
            continue
        split.dest[uid] = {home}


def _place_read_sources(split: Split) -> dict[str, set[str]]:
    """Places each source table read by anything; returns source_name → its readers' projects."""
    by_source: dict[str, set[str]] = defaultdict(set)
    for uid, source in split.sources.items():
        readers: set[str] = set()
        for child in split.children.get(uid, []):
            node = split.nodes[child]
            if node.resource_type == "test" and node.test_metadata is not None and node.attached_node is None:
                continue    # the source's own tests
            readers |= split.dest.get(child, set())
        for exposure in split.exposures.values():
            if uid in exposure.depends_on.nodes:
                readers |= split.dest.get(exposure.unique_id, set())
        if readers:
            split.dest[uid] = readers
            by_source[source.source_name] |= readers
    return by_source


def assign_raw_seeds(split: Split) -> None:
    """Seeds disabled by default hold raw data loaded by hand (`dbt seed --vars …`): each
    goes to its group's project and to the projects whose sources read its table, else to
    its folder's project, else to every project — raw CSVs are never lost."""
    readers_of = split.source_readers_by_table()
    everywhere = {p for uid, d in split.dest.items() if uid.startswith(("model.", "seed.")) for p in d}
    homes = split.model_homes_by_file()
    for node in split.disabled:
        if node.resource_type != "seed" or node.unique_id in split.dest:
            continue
        group_home = split.home_of(node)
        projects = set(readers_of.get((node.alias or node.name).lower(), set())) | (
            {group_home} if group_home else set())
        if not projects:
            home = folder_home(split.source, node.original_file_path, homes)
            projects = {home} if home else set(everywhere)
        if projects:
            split.dest[node.unique_id] = set(projects)


def warn_seeds_read_as_sources(split: Split) -> None:
    """Warns of seeds only read through source(): dbt does not build them before readers."""
    readers_of = split.source_readers_by_table()
    fed = sorted(n.name for n in split.nodes.values() if n.resource_type == "seed"
                 and (n.alias or n.name).lower() in readers_of
                 and not any(split.kind(c) in ("model", "snapshot") for c in split.children.get(n.unique_id, [])))
    if fed:
        split.warnings.append(
            f"the seeds {', '.join(fed)} are read through source(), not ref(), so dbt does not "
            f"build them before their readers: load them first with `meshkit build --select "
            f"resource_type:seed`, then run `meshkit build`")


def warn_monolith_tables(split: Split) -> None:
    """Warns of sources reading the monolith's own database (tables no enabled seed, model or
    snapshot of the project builds): each split project writes a new database, which lacks them."""
    own_db = _own_database(split)
    if not own_db:
        return
    built = {(n.alias or n.name).lower() for n in split.nodes.values()
             if n.resource_type in ("seed", "model", "snapshot")}
    loaded_by_hand = {(n.alias or n.name).lower(): n for n in split.disabled if n.resource_type == "seed"}
    for uid, source in sorted(split.sources.items()):
        table = (source.identifier or source.name).lower()
        if (source.database or "").lower() != own_db.lower() or table in built:
            continue
        where = ", ".join(sorted(split.dest.get(uid, set()))) or "no project"
        seed = loaded_by_hand.get(table)
        how = (f"the seed {seed.name} (disabled by default) is copied into {where}: load it there "
               f"as you loaded it into the monolith" if seed else
               "load it into the database of each project that reads it, or attach the "
               "monolith's file read-only and give the source that `database:`")
        split.warnings.append(f"source {source.source_name}.{source.name} reads {source.schema_}."
                              f"{source.identifier or source.name} from the monolith's own "
                              f"database '{own_db}', which no split project writes (it is defined "
                              f"in {where}): {how}")


def _own_database(split: Split) -> str | None:
    """The database the monolith's models are built in (its default target's)."""
    counts: dict[str, int] = defaultdict(int)
    for node in split.nodes.values():
        if node.resource_type in ("model", "seed") and node.database:
            counts[node.database] += 1
    return max(counts, key=counts.__getitem__) if counts else None
