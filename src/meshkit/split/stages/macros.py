"""The stage that places macros: where the resources calling them went.

Used by one project, a macro goes there; by several, into the mesh's internal package (and
whatever it calls with it). Overrides of dbt's own macros, materializations and generic tests
are copied into each project needing them: dbt only finds those in the project it runs.
"""

from __future__ import annotations

import re
from collections import defaultdict

from meshkit.split.plan import folder_home
from meshkit.split.refs import dispatched_names, find_refs
from meshkit.split.stages.state import Split


def assign_macros(split: Split) -> None:
    """Fills `dest` for the project's macros, `plan.macro_destinations` (macro name →
    destinations), `plan.package_macros` (names moved to the package) and `macro_users`."""
    own = split.macros
    m, adapter = split.source.manifest, split.source.adapter
    # Macros of dbt itself and of the adapter: a project macro of the same name overrides them.
    builtin = {mc.name for mc in m.macros.values() if mc.package_name in ("dbt", f"dbt_{adapter}")}
    callees = _callees(split)
    users = _users(split, callees)
    dest, package_ids = _first_destinations(split, users, builtin)
    _pull_callees_into_package(split, callees, builtin, dest, package_ids)
    for uid in package_ids:
        dest[uid] = {split.plan.package}
    _warn_refs(split, dest, package_ids)
    split.dest.update(dest)
    split.macro_users = {own[uid].name: projects for uid, projects in users.items()}
    split.plan.macro_destinations = {own[uid].name: d for uid, d in dest.items()}
    split.plan.package_macros = {own[uid].name for uid in package_ids}


def _callees(split: Split) -> dict[str, set[str]]:
    """Own macro → the own macros it calls, `adapter.dispatch('m')`'s `<adapter>__m` and
    `default__m` included (they go where m goes)."""
    own = split.macros
    callees = {uid: {c for c in mc.depends_on.macros if c in own} for uid, mc in own.items()}
    for uid, mc in own.items():
        for name in dispatched_names(mc.macro_sql):
            callees[uid] |= {c for c, other in own.items() if other.name.endswith(f"__{name}") and c != uid}
    return callees


def _closure(start: list[str], callees: dict[str, set[str]], own: dict) -> set[str]:
    seen: set[str] = set()
    stack = [c for c in start if c in own]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(callees.get(current, ()))
    return seen


def _users(split: Split, callees: dict[str, set[str]]) -> dict[str, set[str]]:
    """Own macro → the projects of the resources calling it (directly or not); a macro called
    in dbt_project.yml (hooks) is used by every project."""
    users: dict[str, set[str]] = defaultdict(set)
    items = [(n.depends_on.macros, split.dest.get(uid, set())) for uid, n in split.nodes.items()]
    items += [(t.depends_on.macros, split.dest.get(uid, set())) for uid, t in split.unit_tests.items()]
    for macros, projects in items:
        for called in _closure(macros, callees, split.macros):
            users[called] |= projects
    all_projects = split.projects()
    for uid, macro in split.macros.items():
        if re.search(rf"(?<![\w.]){re.escape(macro.name)}\s*\(", split.source.config_text):
            users[uid] |= all_projects
    return users


def _first_destinations(split: Split, users: dict[str, set[str]],
                        builtin: set[str]) -> tuple[dict[str, set[str]], set[str]]:
    """(own macro → projects, own macros for the package) before the package's callees."""
    homes = split.model_homes_by_file()
    all_projects = split.projects()
    dest: dict[str, set[str]] = {}
    package_ids: set[str] = set()
    for uid, macro in split.macros.items():
        name = macro.name
        if name in builtin or name.startswith("materialization_"):
            dest[uid] = set(all_projects)
        elif name.startswith("test_") or "{% test" in macro.macro_sql or "{%- test" in macro.macro_sql:
            home = folder_home(split.source, macro.original_file_path, homes)
            dest[uid] = users[uid] or ({home} if home is not None else set()) or set(all_projects)
        elif len(users[uid]) > 1:
            package_ids.add(uid)
        elif len(users[uid]) == 1:
            dest[uid] = set(users[uid])
        else:
            home = folder_home(split.source, macro.original_file_path, homes)
            if home:
                dest[uid] = {home}
            else:
                package_ids.add(uid)
    return dest, package_ids


def _pull_callees_into_package(split: Split, callees: dict[str, set[str]], builtin: set[str],
                               dest: dict[str, set[str]], package_ids: set[str]) -> None:
    """What a package macro calls must be in the package too (unless copied everywhere)."""
    changed = True
    while changed:
        changed = False
        for uid in list(package_ids):
            for callee in callees.get(uid, ()):
                name = split.macros[callee].name
                if callee not in package_ids and not (name in builtin or name.startswith(("test_", "materialization_"))):
                    package_ids.add(callee)
                    dest.pop(callee, None)
                    changed = True


def _warn_refs(split: Split, dest: dict[str, set[str]], package_ids: set[str]) -> None:
    """Warns of a macro calling ref() that lands in several places or the package."""
    for uid, macro in split.macros.items():
        if len(dest.get(uid, ())) == 1 and uid not in package_ids:
            continue    # one home: its refs are rewritten for that project
        if any(ref is not None for ref, _ in find_refs(macro.macro_sql)):
            split.warnings.append(f"macro {macro.name} ({macro.original_file_path}) calls ref(); "
                                  f"check it still resolves in {', '.join(sorted(dest.get(uid, ())))}")
