"""The files of the split mesh, computed in memory from a plan.

Nothing here touches the disk except reading the source project: `render` returns every file
of the new mesh (projects, internal package, mesh.yml, CODEOWNERS, SPLIT.md) as bytes, so that
`split plan` can report what `split apply` would write, and `split apply` can write it all at
once or not at all.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml as pyyaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from meshkit.dbt.artifacts import Macro
from meshkit.dbt.nodes import group_of
from meshkit.errors import MeshError
from meshkit.files.yamlcomments import move_trailing_comment, trailing_holder
from meshkit.files.yamltext import (
    TextDoc,
    dump,
    entry_names,
    filter_entries,
    guess_style,
    load,
    publish_model,
)
from meshkit.scaffold.profiles import derive_profile, dump_profiles, find_profile, read_profiles
from meshkit.split.plan import Blocker, PublicModel, SplitPlan, folder_home
from meshkit.split.refs import (
    doc_names,
    docs_blocks,
    find_refs,
    qualify_macros,
    rewrite_dispatch,
    rewrite_refs,
    set_sql_access,
)

# dbt_project.yml sections whose config paths follow the resources' fqns (semantic models,
# metrics and saved queries are kept as written).
_SECTION_KINDS = {"models": ("model",), "seeds": ("seed",), "snapshots": ("snapshot",),
                  "analyses": ("analysis",), "data_tests": ("test",), "tests": ("test",),
                  "sources": ("source",), "exposures": ("exposure",), "unit_tests": ("unit_test",)}
_RENAMED_SECTIONS = ("models", "seeds", "snapshots", "data_tests", "tests", "sources", "exposures",
                     "unit_tests", "analyses", "vars", "semantic-models", "metrics", "saved-queries")
_YAML_SUFFIXES = (".yml", ".yaml")
_CODE_SUFFIXES = (".sql", ".py")
NEW_PROPERTIES_FILE = "_public_models.yml"


@dataclass
class Rendered:
    files: dict[str, bytes] = field(default_factory=dict)
    blockers: list[Blocker] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    shared_docs: dict[str, list[str]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)
    rewritten_refs: int = 0

    def text(self, path: str) -> str:
        return self.files[path].decode("utf-8")


class _Renderer:
    def __init__(self, plan: SplitPlan, out: Path | None):
        self.plan = plan
        self.s = plan.source
        self.out = out.resolve() if out is not None else None
        self.r = Rendered()
        self.projects = sorted(plan.projects)
        self.package = plan.package if plan.uses_package else None
        self.destinations = self.projects + ([self.package] if self.package else [])
        self.texts: dict[str, dict[str, str]] = defaultdict(dict)       # dest → path → text
        self.binary: dict[str, dict[str, bytes]] = defaultdict(dict)
        self.rewritten: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.public_by_file: dict[tuple[str, str], list[PublicModel]] = defaultdict(list)
        for public in plan.public:
            if public.becomes_public or public.adds_contract:
                if public.yaml_file:
                    self.public_by_file[(public.project, public.yaml_file)].append(public)
        self.file_dest = self._file_destinations()
        enabled = {n.original_file_path for n in self.s.manifest.nodes.values()
                   if n.package_name == self.s.name}
        self.disabled_files = {n.original_file_path for ns in self.s.manifest.disabled.values()
                               for n in ns if n.package_name == self.s.name} - enabled

    # -- where files go ------------------------------------------------------------------------
    def _file_destinations(self) -> dict[str, set[str]]:
        m, own = self.s.manifest, self.s.name
        found: dict[str, set[str]] = defaultdict(set)
        nodes = [n for n in m.nodes.values() if n.package_name == own]
        nodes += [n for ns in m.disabled.values() for n in ns if n.package_name == own]
        for node in nodes:
            path = node.original_file_path
            if path.endswith(_YAML_SUFFIXES):
                continue        # generic tests live in properties files
            found[path] |= self.plan.destinations.get(node.unique_id, set())
        for uid, macro in m.macros.items():
            if macro.package_name == own:
                found[macro.original_file_path] |= self.plan.destinations.get(uid, set())
        return found

    def resolver(self, dest: str) -> Callable[[str, str | None], str | None]:
        own = self.s.name
        models = self.plan.model_project
        local = {n.name for n in self.s.manifest.nodes.values()
                 if n.package_name == own and n.resource_type in ("seed", "snapshot")}

        def resolve(name: str, package: str | None) -> str | None:
            if package not in (None, own):
                return None
            if dest == self.package:
                return None
            if name in models:
                return "" if models[name] == dest else models[name]
            if name in local and package == own:
                return ""
            return None
        return resolve

    def disabled_resolver(self, dest: str, path: str, resolve: Callable[[str, str | None], str | None]):
        """A disabled node's refs stay as written: dbt never resolves them, and a cross-project
        ref would need its target public. Enabling the node later means writing that ref."""
        def keep(name: str, package: str | None) -> str | None:
            target = resolve(name, package)
            if target:
                self.r.warnings.append(
                    f"{path} (disabled) refs {name}, which is in {target} now: if you enable it, "
                    f"write ref('{target}', '{name}') and make {name} public")
                return None
            return target
        return keep

    # -- main ----------------------------------------------------------------------------------
    def run(self) -> Rendered:
        for path in self.s.files:
            self.place(path)
        self.new_properties_files()
        self.check_literal_refs()
        self.place_docs()
        for project in self.projects:
            self.project_files(project)
        if self.package:
            self.package_files(self.package)
        self.mesh_files()
        for dest in self.destinations:
            base = f"packages/{dest}" if dest == self.package else dest
            for path, text in self.texts[dest].items():
                self.r.files[f"{base}/{path}"] = text.encode("utf-8")
            for path, data in self.binary[dest].items():
                self.r.files[f"{base}/{path}"] = data
        self.r.files = dict(sorted(self.r.files.items()))
        return self.r

    def place(self, path: str) -> None:
        top = PurePosixPath(path)
        if len(top.parts) == 1 and top.name in ("dbt_project.yml", "profiles.yml", "packages.yml",
                                                 "dependencies.yml", "selectors.yml"):
            if top.name == "selectors.yml":
                self.r.left_out.append(f"{path} (selectors name models of several projects; "
                                       f"write one per project)")
            return
        if len(top.parts) == 1 and top.name == ".gitignore":
            text = self.s.read(path)
            for dest in self.destinations:
                self.texts[dest][path] = text
            return
        kind = self.s.kind_of_path(path)
        if kind is None:
            self.r.left_out.append(path)
            return
        if path.endswith(".md"):
            return      # doc blocks: placed by use, once everything else is
        if path.endswith(_YAML_SUFFIXES):
            self.place_yaml(path)
            return
        dests = self.file_dest.get(path)
        if not dests:
            home = folder_home(self.s, path, self._model_homes())
            if home is None:
                self.r.left_out.append(path)
                return
            dests = {home}
        for dest in sorted(dests):
            if path.endswith(_CODE_SUFFIXES):
                self.texts[dest][path] = self.code(dest, path, self.s.read(path), kind)
            else:
                self.binary[dest][path] = self.s.read_bytes(path)

    def _model_homes(self) -> dict[str, str]:
        from meshkit.split.plan import within_resource_folder
        return {within_resource_folder(self.s, n.original_file_path): self.plan.model_project[n.name]
                for n in self.s.manifest.nodes.values()
                if n.package_name == self.s.name and n.resource_type == "model"
                and n.name in self.plan.model_project}

    # -- code ----------------------------------------------------------------------------------
    def code(self, dest: str, path: str, text: str, kind: str) -> str:
        mode = "python" if path.endswith(".py") else "sql"
        resolve = self.resolver(dest)
        if path in self.disabled_files:
            resolve = self.disabled_resolver(dest, path, resolve)
        result = rewrite_refs(text, resolve, mode=mode)
        self.rewritten[(dest, path)].update(name for name, _, _ in result.rewritten)
        self.r.rewritten_refs += len(result.rewritten)
        text = result.text
        if self.package and mode == "sql":
            text = qualify_macros(text, self.package, self.plan.package_macros)
        if mode == "sql":
            text = self.dispatch_namespaces(dest, text)
        for public in self.plan.public:
            if public.project == dest and public.becomes_public and kind == "model":
                node = self.s.manifest.nodes.get(public.unique_id)
                if node is not None and node.original_file_path == path:
                    text, _ = set_sql_access(text, "public")
        return text

    def _macro_offset(self, macro: Any) -> int:
        """Lines above a macro's definition in its file (macro_sql is the definition alone)."""
        try:
            text = self.s.read(macro.original_file_path)
        except OSError:
            return 0
        start = text.find(macro.macro_sql)
        return text.count("\n", 0, start) if start > 0 else 0

    def dispatch_namespaces(self, dest: str, text: str) -> str:
        """`adapter.dispatch('m')` finds `default__m` only in the project it runs in: in the
        internal package it must name the package; a namespace that named the monolith names
        the macro's new home."""
        if dest == self.package:
            implemented = {n.split("__", 1)[1] for n in self.plan.package_macros if "__" in n}
            text = rewrite_dispatch(text, {None: dest}, implemented)
        return rewrite_dispatch(text, {self.s.name: dest})

    def macro_refs(self, unique_id: str, name: str) -> list[tuple[Macro, int]]:
        """The project's own macros a node calls (directly or not) that ref model `name`, with
        the line of that ref."""
        m, own = self.s.manifest, self.s.name
        node = m.nodes.get(unique_id) or m.unit_tests.get(unique_id)
        stack = list(node.depends_on.macros if node else [])
        seen: set[str] = set()
        found: list[tuple[Macro, int]] = []
        while stack:
            uid = stack.pop()
            macro = m.macros.get(uid)
            if uid in seen or macro is None or macro.package_name != own:
                continue
            seen.add(uid)
            stack.extend(macro.depends_on.macros)
            line = next((ln for ref, ln in find_refs(macro.macro_sql) if ref and ref.name == name), None)
            if line is not None:
                found.append((macro, line))
        return found

    def check_literal_refs(self) -> None:
        for cross in self.plan.cross_refs:
            dest = cross.consumer.split(".", 1)[0]
            producer = cross.producer.split(".", 1)[1]
            if producer in self.rewritten.get((dest, cross.file), set()):
                continue
            in_macros = self.macro_refs(cross.unique_id, producer)
            if in_macros and all(producer in self.rewritten.get((dest, mc.original_file_path), set())
                                 for mc, _ in in_macros):
                continue    # the macro is this project's own copy, and its ref was rewritten
            if in_macros:
                macro, line = in_macros[0]
                home = ", ".join(sorted(self.plan.macro_destinations.get(macro.name, ()))) or "?"
                owner = cross.producer.split(".")[0]
                message = (f"macro {macro.name} refs {producer}, which moves to {owner}; "
                           f"{cross.consumer} calls it, and the macro lands in {home}, where "
                           f"the ref cannot be rewritten for every caller")
                if not any(b.message == message for b in self.r.blockers):
                    self.r.blockers.append(Blocker(
                        message, file=macro.original_file_path, line=line + self._macro_offset(macro),
                        hint=f"pass the relation to {macro.name} as an argument (callers write "
                             f"ref('{producer}')), or write ref('{owner}', '{producer}') in it once "
                             f"split"))
                continue
            self.r.blockers.append(Blocker(
                f"{cross.consumer} refs {cross.producer} in a way meshkit cannot rewrite "
                f"(not a literal ref('{producer}'))", file=cross.file, line=cross.line,
                hint=f"write it as {{{{ ref('{producer}') }}}} before splitting, or as "
                     f"{{{{ ref('{cross.producer.split('.')[0]}', '{producer}') }}}} after"))

    # -- properties files ---------------------------------------------------------------------
    def predicates(self, dest: str, primary: str) -> dict[str, Any]:
        plan, own = self.plan, self.s.name

        def by_uid(kind: str) -> Callable[[Any], bool]:
            def keep(entry: Any) -> bool:
                name = _entry_name(entry)
                dests = plan.destinations.get(f"{kind}.{own}.{name}")
                return dest in dests if dests is not None else dest == primary
            return keep

        def model(entry: Any) -> bool:
            name = _entry_name(entry)
            project = plan.model_project.get(name)
            if dest in plan.copied_models.get(name, ()):
                return True
            return project == dest if project else dest == primary

        def group(entry: Any) -> bool:
            name = _entry_name(entry)
            return dest in self.group_destinations().get(name, {primary})

        def macro(entry: Any) -> bool:
            name = _entry_name(entry)
            dests = plan.macro_destinations.get(name)
            return dest in dests if dests is not None else dest == primary

        def source(entry: Any, table: Any) -> bool:
            if table is None:
                return dest == primary
            dests = plan.destinations.get(f"source.{own}.{entry.get('name')}.{table.get('name')}")
            return dest in dests if dests is not None else dest == primary

        def data_test(entry: Any) -> bool:
            name = _entry_name(entry)
            dests = plan.destinations.get(f"test.{own}.{name}")
            return dest in dests if dests is not None else dest == primary

        unit_tests = {u.name: plan.destinations.get(uid) for uid, u in self.s.manifest.unit_tests.items()
                      if u.package_name == own}

        def unit_test(entry: Any) -> bool:
            dests = unit_tests.get(_entry_name(entry))
            return dest in dests if dests else dest == primary

        return {"models": model, "seeds": by_uid("seed"), "snapshots": by_uid("snapshot"),
                "analyses": by_uid("analysis"), "exposures": by_uid("exposure"),
                "unit_tests": unit_test, "groups": group, "macros": macro,
                "sources": source, "data_tests": data_test,
                "semantic_models": by_uid("semantic_model"), "metrics": by_uid("metric"),
                "saved_queries": by_uid("saved_query")}

    def group_destinations(self) -> dict[str, set[str]]:
        if not hasattr(self, "_groups"):
            groups: dict[str, set[str]] = defaultdict(set)
            for project in self.projects:
                for name in self.plan.projects[project].groups:
                    groups[name].add(project)
            for node in self.s.manifest.nodes.values():
                group = group_of(node)
                if group and node.package_name == self.s.name:
                    groups[group] |= {d for d in self.plan.destinations.get(node.unique_id, set())
                                      if d in self.plan.projects}
            self._groups = groups
        return self._groups

    def place_yaml(self, path: str) -> None:
        text = self.s.read(path)
        try:
            names = entry_names(text, path)
        except Exception:
            names = {}
        counts = self._entry_counts(names)
        primary: str | None
        if counts:
            primary = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        else:
            primary = folder_home(self.s, path, self._model_homes())
            if primary is None:
                self.r.left_out.append(path)
                return
        for dest in self.destinations:
            if dest not in counts and dest != primary:
                continue
            filtered, left = filter_entries(text, path, self.predicates(dest, primary))
            if not left:
                continue
            result = rewrite_refs(filtered, self.resolver(dest), mode="yaml")
            self.rewritten[(dest, path)].update(name for name, _, _ in result.rewritten)
            self.r.rewritten_refs += len(result.rewritten)
            out = result.text
            if self.package:
                out = qualify_macros(out, self.package, self.plan.package_macros)
            publics = self.public_by_file.get((dest, path), [])
            if publics:
                out = edit_models(out, path, publics)
            self.texts[dest][path] = out

    def _entry_counts(self, names: dict[str, list[str]]) -> dict[str, int]:
        """Destination → how many of a properties file's entries (by top-level key) go there,
        for the ones any go to."""
        counts: dict[str, int] = defaultdict(int)
        for dest in self.destinations:
            keep = self.predicates(dest, "")
            for key, entries in names.items():
                if key not in keep:
                    continue
                for name in entries:
                    if key == "sources":
                        source, _, table = name.partition(".")
                        if keep[key]({"name": source}, {"name": table}):
                            counts[dest] += 1
                    elif keep[key]({"name": name}):
                        counts[dest] += 1
        return counts

    def new_properties_files(self) -> None:
        """Properties for models that must become public but have no YAML entry yet."""
        by_folder: dict[tuple[str, str], list[PublicModel]] = defaultdict(list)
        for public in self.plan.public:
            if public.yaml_file or not (public.becomes_public or public.adds_contract):
                continue
            node = self.s.manifest.nodes[public.unique_id]
            folder = str(PurePosixPath(node.original_file_path).parent)
            by_folder[(public.project, folder)].append(public)
        for (project, folder), publics in sorted(by_folder.items()):
            path = f"{folder}/{NEW_PROPERTIES_FILE}"
            while path in self.texts[project] or path in self.s.files:
                path = path.replace(".yml", "_.yml")
            lines = ["version: 2", "",
                     "# Written by `meshkit split`: models other projects of the mesh read.",
                     "models:"]
            text = "\n".join(lines) + "\n" + "".join(f"  - name: {p.name}\n" for p in publics)
            self.texts[project][path] = edit_models(text, path, publics)

    # -- docs ----------------------------------------------------------------------------------
    def place_docs(self) -> None:
        blocks_of: dict[str, list[str]] = {}
        for path in self.s.files:
            if path.endswith(".md") and self.s.kind_of_path(path) is not None:
                blocks_of[path] = docs_blocks(self.s.read(path))
        users: dict[str, set[str]] = defaultdict(set)
        for dest in self.projects:
            self._copy_docs(dest, blocks_of)
        for dest in self.projects:
            used = set().union(*(doc_names(t) for t in self.texts[dest].values()))
            for block in used:
                users[block].add(dest)
        for path in blocks_of:
            if not any(path in self.texts[d] for d in self.projects):
                home = folder_home(self.s, path, self._model_homes())
                if home:
                    self.texts[home][path] = self.s.read(path)
                else:
                    self.r.left_out.append(f"{path} (doc blocks nothing uses)")
        self.r.shared_docs = {b: sorted(d) for b, d in sorted(users.items()) if len(d) > 1}

    def _copy_docs(self, dest: str, blocks_of: dict[str, list[str]]) -> None:
        """Copies to `dest` the .md files (path → its doc blocks) defining the docs its files
        use, and those their blocks use in turn, and the project overview."""
        texts = self.texts[dest]
        wanted: set[str] = set().union(*(doc_names(t) for t in texts.values())) if texts else set()
        while True:
            added = False
            for path, blocks in blocks_of.items():
                if path in texts:
                    continue
                if "__overview__" in blocks or wanted & set(blocks):
                    text = self.s.read(path)
                    texts[path] = text
                    more = doc_names(text) - wanted
                    wanted |= more
                    added = added or bool(more)
            if not added:
                break

    # -- project files -------------------------------------------------------------------------
    def project_files(self, project: str) -> None:
        self.texts[project]["dbt_project.yml"] = self.dbt_project(project)
        found = self.source_profiles()
        if found is not None:
            text = self.profiles(project, found[1])
            if text:
                self.texts[project]["profiles.yml"] = text
        for name, text in self.dependencies(project).items():
            self.texts[project][name] = text
        if ".gitignore" not in self.texts[project]:
            self.texts[project][".gitignore"] = "target/\ndbt_packages/\nlogs/\n"

    def dbt_project(self, project: str) -> str:
        text = self.s.config_text
        doc = TextDoc(text, "dbt_project.yml")
        data = doc.data
        own = self.s.name
        replace: list[tuple[int, int, int, str]] = []
        remove = []
        for key, new in (("name", project), ("profile", self.profile_name(project))):
            if key in data:
                position = doc.value_position(data, key)
                if position:
                    line, start, end = position
                    quote = doc.lines[line][start] if doc.lines[line][start] in "'\"" else ""
                    replace.append((line, start, end, f"{quote}{new}{quote}"))
        for section in _RENAMED_SECTIONS:
            block = data.get(section)
            kinds = _SECTION_KINDS.get(section)
            if isinstance(block, CommentedMap) and kinds and self._fqns(kinds, None) \
                    and not self._fqns(kinds, project):
                remove.append(doc.key_span(data, section))     # none of its resources are here
                continue
            if not isinstance(block, CommentedMap) or own not in block:
                continue
            pruned = []
            if kinds and isinstance(block[own], CommentedMap):
                pruned = self._prune(doc, block[own], (own,), self._fqns(kinds, None),
                                     self._fqns(kinds, project))
            settings = [k for k in block[own]] if isinstance(block[own], CommentedMap) else [None]
            if isinstance(block[own], CommentedMap) and len(pruned) == len(settings) and len(block) == 1:
                remove.append(doc.key_span(data, section))     # nothing of it applies here
                continue
            remove.extend(pruned)
            line, start, end = doc.key_position(block, own)
            replace.append((line, start, end, project))
        out = doc.edited(remove, replace)
        if self.package:
            out = qualify_macros(out, self.package, self.plan.package_macros)
        header = f"# Split out of the dbt project '{own}' by `meshkit split apply`.\n"
        return header + out

    def _fqns(self, kinds: tuple[str, ...], project: str | None) -> set[tuple[str, ...]]:
        """The fqns of the monolith's resources of these kinds (those that land in `project`,
        or all), disabled ones of any kind included — what dbt matches config paths against
        (dbt/parser/manifest.py, _warn_for_unused_resource_config_paths)."""
        m, own, dest = self.s.manifest, self.s.name, self.plan.destinations
        found: set[tuple[str, ...]] = set()
        tables = (m.nodes, m.sources, m.exposures, m.unit_tests)
        items = [r for table in tables for r in table.values()]
        disabled = [n for ns in m.disabled.values() for n in ns]
        for item in items + disabled:
            if item.package_name != own or not item.fqn:
                continue
            if item.unique_id in m.disabled:
                pass            # dbt counts disabled fqns for every section
            elif getattr(item, "resource_type", "unit_test") not in kinds:
                continue
            if project is None or project in dest.get(item.unique_id, set()):
                found.add(tuple(item.fqn))
        return found

    def _prune(self, doc: TextDoc, block: CommentedMap, path: tuple[str, ...],
               before: set[tuple[str, ...]], here: set[tuple[str, ...]]) -> list:
        """Config paths that configured resources of the monolith but none of this project's.

        A key is a path, as dbt reads it, when its value is a mapping and it has no `+`
        (dbt/config/runtime.py, _get_config_paths); a path is used when it prefixes an fqn."""
        spans = []
        for key, value in block.items():
            if str(key).startswith("+") or not isinstance(value, CommentedMap):
                continue
            sub = path + (str(key),)
            used_before = any(f[:len(sub)] == sub for f in before)
            if not used_before:
                continue        # it configured nothing in the monolith either
            if not any(f[:len(sub)] == sub for f in here):
                spans.append(doc.key_span(block, key))
            else:
                spans.extend(self._prune(doc, value, sub, before, here))
        return spans

    def source_profiles(self) -> tuple[Path, CommentedMap] | None:
        """The profiles.yml the split projects' profiles come from: the project's own, else the
        one dbt would read (DBT_PROFILES_DIR, ~/.dbt) when the profile is DuckDB only — those
        hold file paths, not credentials, and every project needs a file of its own. A profile
        of another warehouse there is left where it is: the projects share it."""
        if not hasattr(self, "_profiles"):
            self._profiles: tuple[Path, CommentedMap] | None = self._find_profiles()
        return self._profiles

    def _find_profiles(self) -> tuple[Path, CommentedMap] | None:
        own = self.s.root / "profiles.yml"
        if own.is_file():
            data = read_profiles(own)
            return (own, data) if data is not None else None
        for folder in (os.environ.get("DBT_PROFILES_DIR"), Path.home() / ".dbt"):
            if not folder:
                continue
            path = Path(folder) / "profiles.yml"
            data = read_profiles(path)
            profile = data.get(self.s.profile) if data is not None else None
            outputs = profile.get("outputs") if isinstance(profile, dict) else None
            if data is not None and isinstance(outputs, dict) and outputs and all(
                    isinstance(o, dict) and o.get("type") == "duckdb" for o in outputs.values()):
                return (path, data)
        return None

    def profile_name(self, project: str) -> str:
        return project if self.source_profiles() is not None else self.s.profile

    def profiles(self, project: str, profiles: CommentedMap) -> str | None:
        profile = profiles.get(self.s.profile)
        if not isinstance(profile, CommentedMap):
            self.r.warnings.append(f"profiles.yml has no profile '{self.s.profile}': "
                                   f"write one for {project} by hand")
            return None
        stems = self.database_files(profile)
        relocate = None
        if self.out is not None:
            out = self.out

            def relocate(path: str) -> str:
                return os.path.relpath((self.s.root / path).resolve(), out / project)
        try:
            derived, notes = derive_profile(profile, project, upstream=self.plan.projects[project].upstream,
                                            database_of=stems, replace_stems=set(stems.values()),
                                            relocate=relocate, strict=True)
        except MeshError as exc:
            blocker = Blocker(f"profile '{self.s.profile}' cannot be derived for the split projects: "
                              f"{exc.message}", file=self._profiles_label(), line=exc.line,
                              hint=exc.hint)
            if not any(b.message == blocker.message for b in self.r.blockers):
                self.r.blockers.append(blocker)
            return None
        for note in notes:
            self.r.warnings.append(f"{project}/profiles.yml: {note}")
        return dump_profiles({project: derived}, f"""
dbt reads ./profiles.yml when it runs from this folder. Derived by `meshkit split` from the
profile '{self.s.profile}' of '{self.s.name}': on DuckDB this project writes its own file and
attaches the files of the projects it reads, read-only.""")

    def _profiles_label(self) -> str:
        found = self.source_profiles()
        path = found[0] if found is not None else self.s.root / "profiles.yml"
        return "profiles.yml" if path.parent == self.s.root else str(path)

    def database_files(self, profile: CommentedMap) -> dict[str, str]:
        """Project → DuckDB file stem: the monolith's stem plus the project (`jaffle_core`).

        A file named like a schema of its own (`marketing` with a schema `marketing`) makes
        DuckDB's names ambiguous; the monolith's stem never was."""
        from meshkit.scaffold.profiles import duckdb_stem

        outputs = profile.get("outputs") or {}
        default = outputs.get(profile.get("target")) if isinstance(outputs, dict) else None
        stem = duckdb_stem(default.get("path", "")) if isinstance(default, dict) else None
        return {p: f"{stem}_{p}" if stem else p for p in self.projects}

    def dependencies(self, project: str) -> dict[str, str]:
        entries, from_file, templated = self._package_entries(project)
        upstream = self.plan.projects[project].upstream
        uses_package = self.package and self.plan.projects[project].uses_package
        header = "# Written by `meshkit split apply`: what this project needs from the rest of the mesh.\n"
        lines = []
        result: dict[str, str] = {}
        package_lines = []
        if uses_package:
            package_lines.append(f"  - local: ../packages/{self.package}   # the mesh's internal package\n")
        package_lines += entries
        if templated:
            result["packages.yml"] = "packages:\n" + "".join(package_lines)
        elif package_lines:
            lines.append("packages:\n" + "".join(package_lines))
        if upstream:
            lines.append("projects:\n" + "".join(f"  - name: {name}\n" for name in upstream))
        if lines:
            result["dependencies.yml"] = header + "\n".join(lines)
        return result

    def _package_entries(self, project: str) -> tuple[list[str], str | None, bool]:
        """The monolith's installed packages this project still uses, as YAML list items."""
        for name in ("packages.yml", "dependencies.yml"):
            path = self.s.root / name
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            try:
                data = pyyaml.safe_load(text) or {}
            except pyyaml.YAMLError:
                data = {}
            packages = data.get("packages") if isinstance(data, dict) else None
            if not packages:
                continue
            used = self._packages_used(project)
            lock = self._lock_names()
            items = []
            for entry in packages:
                if not isinstance(entry, dict):
                    continue
                package_name = self._package_name(entry, lock)
                if package_name is not None and package_name not in used:
                    continue
                entry = dict(entry)
                if "local" in entry:
                    entry["local"] = self._relocate(str(entry["local"]), project)
                dumped = pyyaml.safe_dump([entry], sort_keys=False, default_flow_style=False)
                items.append("".join("  " + line + "\n" for line in dumped.splitlines()))
            return items, name, "{{" in text and name == "packages.yml"
        return [], None, False

    def _packages_used(self, project: str) -> set[str]:
        m, own = self.s.manifest, self.s.name
        used: set[str] = set()
        stack: list[str] = []
        for uid, node in m.nodes.items():
            if node.package_name == own and project in self.plan.destinations.get(uid, set()):
                stack.extend(node.depends_on.macros)
                if node.test_metadata and node.test_metadata.namespace:
                    used.add(node.test_metadata.namespace)
        for uid, macro in m.macros.items():
            if macro.package_name == own and project in self.plan.destinations.get(uid, set()):
                stack.extend(macro.depends_on.macros)
        seen: set[str] = set()
        while stack:
            current = stack.pop()
            if current in seen or current not in m.macros:
                continue
            seen.add(current)
            macro = m.macros[current]
            used.add(macro.package_name)
            stack.extend(macro.depends_on.macros)
        if project != self.package:
            # Packages that bring models of their own are kept in every project.
            used |= {n.package_name for n in m.nodes.values() if n.package_name != own}
        return used

    def _lock_names(self) -> list[tuple[dict, str]]:
        path = self.s.root / "package-lock.yml"
        if not path.is_file():
            return []
        try:
            data = pyyaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except pyyaml.YAMLError:
            return []
        return [(e, e["name"]) for e in data.get("packages") or [] if isinstance(e, dict) and "name" in e]

    def _package_name(self, entry: dict, lock: list[tuple[dict, str]]) -> str | None:
        for locked, name in lock:
            if all(locked.get(k) == entry.get(k) for k in ("package", "git", "local", "tarball") if k in entry):
                return name
        if "local" in entry:
            config = (self.s.root / str(entry["local"]) / "dbt_project.yml")
            if config.is_file():
                try:
                    return (pyyaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("name")
                except pyyaml.YAMLError:
                    return None
        if "package" in entry:
            return str(entry["package"]).split("/")[-1].replace("-", "_")
        return None

    def _relocate(self, local: str, project: str) -> str:
        target = (self.s.root / local).resolve()
        base = (self.out / project) if self.out else (self.s.root.parent / "<out>" / project)
        return os.path.relpath(target, base)

    # -- the internal package -----------------------------------------------------------------
    def package_files(self, name: str) -> None:
        require = self.s.config.get("require-dbt-version")
        macro_paths = self.s.paths.get("macro") or ["macros"]
        lines = [
            "# The mesh's internal dbt package: macros that several projects use, moved here by",
            "# `meshkit split apply`. Projects install it with `local:` in their dependencies.yml",
            f"# and call its macros by the package's name: {{{{ {name}.<macro>(...) }}}}.",
            f"name: {name}",
            'version: "0.1.0"',
            "config-version: 2",
        ]
        if require:
            lines.append(f"require-dbt-version: {pyyaml.safe_dump(require, default_flow_style=True).strip()}")
        lines += ["", f"macro-paths: {pyyaml.safe_dump(macro_paths, default_flow_style=True).strip()}",
                  'clean-targets: ["target", "dbt_packages"]']
        self.texts[name]["dbt_project.yml"] = "\n".join(lines) + "\n"
        macros = "\n".join(f"- `{m}`" for m in sorted(self.plan.package_macros))
        self.texts[name]["README.md"] = (
            f"# {name}\n\nThe mesh's internal package. It holds the macros that more than one "
            f"project of the mesh uses:\n\n{macros}\n\nInstall it in a project with\n\n"
            f"```yaml\n# dependencies.yml\npackages:\n  - local: ../packages/{name}\n```\n\n"
            f"and call a macro by the package's name: `{{{{ {name}.<macro>(...) }}}}`.\n")
        entries, _, _ = self._package_entries(name)
        if entries:
            self.texts[name]["packages.yml"] = "packages:\n" + "".join(entries)
        for path, text in list(self.texts[name].items()):
            if path.endswith(".sql"):
                self.texts[name][path] = qualify_macros(text, name, self.plan.package_macros)

    # -- mesh files ----------------------------------------------------------------------------
    def mesh_files(self) -> None:
        lines = [f"# The mesh split out of the dbt project '{self.s.name}' by `meshkit split apply`.",
                 f"name: {self.plan.mesh_name}", "store: .meshkit/store"]
        target = self._default_target()
        if target and target != "prod":
            lines += ["environments:", "  prod:", f"    target: {target}", "    type: production"]
        lines.append("projects:")
        for project in self.projects:
            groups = self.plan.projects[project].groups
            note = f"   # group {', '.join(groups)}" if groups else ""
            lines.append(f"  {project}: {project}{note}")
        if self.package:
            lines += ["packages:", f"  {self.package}: packages/{self.package}   # shared macros"]
        self.r.files["mesh.yml"] = ("\n".join(lines) + "\n").encode()
        self.r.files["CODEOWNERS"] = self.codeowners().encode()
        self.r.files["SPLIT.md"] = self.summary().encode()

    def _default_target(self) -> str | None:
        profile = find_profile(self.s.root, self.s.profile)
        return str(profile.get("target") or "") if profile is not None else None

    def owners_of(self, project: str) -> list[str]:
        handles: list[str] = []
        for owner in self.plan.projects[project].owners:
            values = owner.get("codeowners") or owner.get("github") or owner.get("email")
            if not values and str(owner.get("name") or "").startswith("@"):
                values = owner["name"]
            for value in values if isinstance(values, list) else [values] if values else []:
                if str(value) not in handles:
                    handles.append(str(value))
        return handles

    def codeowners(self) -> str:
        lines = ["# Written by `meshkit split apply` from the owners of the dbt groups: each",
                 "# domain team reviews changes to its own project.", ""]
        everyone: list[str] = []
        for project in self.projects:
            owners = self.owners_of(project)
            everyone += [o for o in owners if o not in everyone]
            if owners:
                lines.append(f"/{project}/ {' '.join(owners)}")
            else:
                lines.append(f"# /{project}/ has no group owner with an email or @handle: add one")
        if self.package:
            users = [p for p in self.projects if self.plan.projects[p].uses_package]
            owners = [o for p in users for o in self.owners_of(p)]
            owners = list(dict.fromkeys(owners))
            if owners:
                lines.append(f"/packages/{self.package}/ {' '.join(owners)}")
        if everyone:
            lines.append(f"/mesh.yml {' '.join(everyone)}")
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        plan = self.plan
        lines = [f"# Split of `{self.s.name}`", "",
                 f"Written by `meshkit split apply`: {len(self.projects)} projects"
                 + (f" and the internal package `{self.package}`" if self.package else "") + ".", ""]
        todo = [p for p in plan.public if p.contract in ("unknown", "impossible")]
        if todo:
            lines += ["## Contracts to write", "",
                      "These models are public now (another project reads them) but have no enforced "
                      "contract yet:", ""]
            lines += [f"- `{p.project}.{p.name}`: {p.detail}" for p in todo]
            lines.append("")
        if plan.project_cycles:
            lines += ["## Projects that depend on each other", "",
                      "Each of these projects reads tables the other builds, so neither can be "
                      "built first with plain `dbt build`: start them with `meshkit build`, which "
                      "builds them in waves, model by model. From this folder:", ""]
            lines += [f"- {' ↔ '.join(c)}: `meshkit build {' '.join('--project ' + p for p in c)}`"
                      for c in plan.project_cycles]
            lines += ["", "(or `meshkit build` for the whole mesh). Once both are built, each "
                      "can also be run on its own.", ""]
        if self.source_profiles() is not None:
            lines += ["## Before the first build", "",
                      f"Each project's profiles.yml comes from the profile '{self.s.profile}' of "
                      f"`{self.s.name}` ({self._profiles_label()}). Paths in it are read from the project's own folder, one level "
                      f"below this one; a path built with `env_var()` is kept as written, so data the "
                      f"monolith attached (such as raw data) must be where that path points from here.",
                      ""]
        notes = plan.warnings + self.r.warnings
        if notes:
            lines += ["## Check by hand", ""] + [f"- {w}" for w in notes] + [""]
        if self.r.left_out:
            lines += ["## Not copied", ""] + [f"- `{p}`" for p in self.r.left_out] + [""]
        return "\n".join(lines)


def _entry_name(entry: Any) -> str:
    """The `name:` of a properties-file entry ("" for an entry without one)."""
    name = entry.get("name") if isinstance(entry, dict) else None
    return str(name) if name is not None else ""


# -- model entries that become public -------------------------------------------------------------
def edit_models(text: str, file: str, publics: list[PublicModel]) -> str:
    """Make models public and give them contracts, keeping the rest of the file: by inserting
    lines where the file is block YAML, else by a round-trip dump."""
    edited: str | None = text
    for public in publics:
        if edited is None:
            break
        edited = publish_model(edited, file, public.name, access=public.becomes_public,
                               columns=public.columns if public.adds_contract else None)
    if edited is not None:
        return edited
    style = guess_style(text)
    data = load(text, file)
    models = data.get("models") if isinstance(data, CommentedMap) else None
    if not isinstance(models, CommentedSeq):
        return text
    for public in publics:
        entry = next((e for e in models if isinstance(e, CommentedMap) and e.get("name") == public.name), None)
        if entry is None:
            continue
        last = trailing_holder(entry)
        if public.becomes_public:
            _set_access(entry)
        if public.adds_contract:
            _add_contract(entry, public.columns)
        move_trailing_comment(last, trailing_holder(entry))
    return dump(data, style)


def _config(entry: CommentedMap) -> CommentedMap:
    config = entry.get("config")
    if not isinstance(config, CommentedMap):
        keys = list(entry.keys())
        position = keys.index("description") + 1 if "description" in keys else (
            keys.index("name") + 1 if "name" in keys else 0)
        config = CommentedMap()
        entry.insert(position, "config", config)
    return config


def _set_access(entry: CommentedMap) -> None:
    if "access" in entry:
        entry["access"] = "public"
    else:
        _config(entry)["access"] = "public"


def _add_contract(entry: CommentedMap, columns: list[tuple[str, str]]) -> None:
    config = _config(entry)
    contract = config.get("contract")
    if isinstance(contract, CommentedMap):
        contract["enforced"] = True
    else:
        keys = list(config.keys())
        position = keys.index("access") + 1 if "access" in keys else len(keys)
        config.insert(position, "contract", CommentedMap([("enforced", True)]))
    listed = entry.get("columns")
    if not isinstance(listed, CommentedSeq):
        listed = CommentedSeq()
        entry["columns"] = listed
    # An enforced contract builds the table with its columns in the contract's order: keep the
    # table's order (the catalog's), moving documented columns into it.
    by_name = {str(c.get("name")).lower(): c for c in listed if isinstance(c, CommentedMap)}
    ordered = []
    for name, data_type in columns:
        existing = by_name.pop(name.lower(), None)
        if existing is None:
            ordered.append(CommentedMap([("name", name), ("data_type", data_type)]))
            continue
        if "data_type" not in existing:
            keys = list(existing.keys())
            existing.insert(keys.index("name") + 1 if "name" in keys else 0, "data_type", data_type)
        ordered.append(existing)
    ordered += [c for c in listed if not (isinstance(c, CommentedMap) and str(c.get("name")).lower()
                                          in {n.lower() for n, _ in columns})]
    if [id(c) for c in ordered] != [id(c) for c in listed]:
        comments = {id(listed[i]): ca for i, ca in listed.ca.items.items() if i < len(listed)}
        del listed[:]
        listed.ca.items.clear()
        for index, column in enumerate(ordered):
            listed.append(column)
            if id(column) in comments:
                listed.ca.items[index] = comments[id(column)]


def render(plan: SplitPlan, out: Path | None = None) -> Rendered:
    """Every file of the split mesh (relative path → text), rendered from the plan in memory;
    `out` is where they will be written, for relative paths in profiles."""
    return _Renderer(plan, out).run()
