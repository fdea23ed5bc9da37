"""`meshkit connect`: the two hacks teams use before a mesh, turned into cross-project refs.

- The source hack: project B declares a source whose table is a model project A builds
  (matched by database, schema and identifier, as dbt renders them for each project's
  target). B's `source('x', 'y')` calls become `ref('A', 'model')` and the source table is
  removed from B's YAML.
- The package hack: B installs A as a dbt package (`local:` to A's folder). The package entry
  goes (with its package-lock.yml entry and its installed copy in dbt_packages/), and B's
  one-argument `ref('model')` calls to A's models name A: `ref('A', 'model')` — a two-argument
  ref to a package reads the same as a cross-project ref, so those stay as written.

Either way B declares A under `projects:` in dependencies.yml, every model of A that B reads
becomes `access: public`, and on DuckDB B's profile attaches A's file read-only when it does
not read it yet. What cannot be converted automatically is refused with its file and line
before anything is written: B calling A's macros or generic tests, reading A's sources, seeds
or snapshots, reading an ephemeral model, or a ref/source call that is not a literal.

    sources = parse_mesh(mesh)          # `dbt parse` of every project (nothing written)
    plan = plan_connect(mesh, sources)  # every edit, in memory
    apply_connect(plan)                 # write them, or nothing when the plan has blockers
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml as pyyaml

from meshkit.config import Mesh
from meshkit.config.dependencies import declared_projects
from meshkit.config.package_hack import ProjectInstall, projects_installed_as_packages
from meshkit.dbt.artifacts import Node
from meshkit.dbt.nodes import access_of
from meshkit.dbt.relations import relation_key
from meshkit.errors import MeshError
from meshkit.files.yamltext import dump, guess_style, load
from meshkit.split.connect_edits import (
    RefTarget,
    add_projects,
    make_public,
    remove_list_entries,
    remove_source_tables,
    rewrite_sources,
)
from meshkit.split.plan import Blocker
from meshkit.split.refs import calls_in_jinja, rewrite_refs, set_sql_access
from meshkit.split.source import SourceProject, load_source

_CODE = (".sql", ".py")
_YAML = (".yml", ".yaml")
_CONFIG_SECTIONS = ("models", "seeds", "snapshots", "tests", "data_tests", "sources", "vars",
                    "analyses", "unit_tests", "semantic-models", "metrics", "saved-queries")


@dataclass
class Conversion:
    kind: str               # "source" or "package"
    consumer: str           # the project that changes
    producer: str           # the project it now refs
    detail: str             # e.g. "source shop.orders → ref('core', 'orders')"
    file: str               # relative to the consumer
    line: int | None = None


@dataclass
class ConnectPlan:
    root: Path                                             # the mesh folder
    conversions: list[Conversion] = field(default_factory=list)
    public: list[str] = field(default_factory=list)        # "core.orders (protected → public)"
    upstream: dict[str, list[str]] = field(default_factory=dict)
    files: dict[Path, str | None] = field(default_factory=dict)   # new text; None deletes
    remove_dirs: list[Path] = field(default_factory=list)  # installed copies in dbt_packages/
    blockers: list[Blocker] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def relative(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.root)).as_posix()


def parse_mesh(mesh: Mesh, on_line=None) -> dict[str, SourceProject]:
    """Each project parsed by `dbt parse` into a temporary folder (`dbt deps` first when its
    packages are not installed: a project with the package hack cannot parse without them)."""
    from meshkit.config.mesh import MESH_ENV_VAR
    from meshkit.consumer import LENIENT_VAR
    from meshkit.dbt.runner import needs_deps, run_dbt

    # Lenient, as meshkit's own planning parses: an upstream that never published yet is no error.
    saved = {k: os.environ.get(k) for k in (MESH_ENV_VAR, LENIENT_VAR)}
    os.environ.update({MESH_ENV_VAR: str(mesh.file), LENIENT_VAR: "1"})
    try:
        return _parse_all(mesh, on_line, needs_deps, run_dbt)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _parse_all(mesh: Mesh, on_line, needs_deps, run_dbt) -> dict[str, SourceProject]:
    from meshkit.dbt.runner import strip_ansi

    parsed = {}
    for name, project in mesh.projects.items():
        if needs_deps(project.path):
            lock = project.path / "package-lock.yml"
            kept = lock.read_bytes() if lock.is_file() else None
            result = run_dbt(["deps"], project.path, {}, on_line)
            # Installing is not changing the project: package-lock.yml stays as it was.
            if kept is None:
                lock.unlink(missing_ok=True)
            else:
                lock.write_bytes(kept)
            if not result.ok:
                tail = "\n".join("  " + line for line in strip_ansi(result.output).strip().splitlines()[-4:])
                raise MeshError(f"`dbt deps` failed in project '{name}':\n{tail}",
                                file=project.path / "packages.yml",
                                hint="fix the package entries, then run `meshkit connect plan` again")
        parsed[name] = load_source(project.path, on_line=on_line)
    return parsed


class _Planner:
    def __init__(self, mesh: Mesh, sources: dict[str, SourceProject]):
        self.mesh = mesh
        self.s = sources
        self.plan = ConnectPlan(mesh.root)
        self.texts: dict[Path, str | None] = {}
        self.publics: dict[tuple[str, str], Node] = {}
        self.upstream: dict[str, set[str]] = defaultdict(set)
        self.read_dbs: dict[str, set[str]] = defaultdict(set)   # consumer → producers' databases

    # -- shared helpers ---------------------------------------------------------------------
    def own(self, project: str) -> dict[str, Node]:
        source = self.s[project]
        return {uid: n for uid, n in source.manifest.nodes.items() if n.package_name == project}

    def text(self, path: Path) -> str | None:
        if path not in self.texts:
            self.texts[path] = path.read_text(encoding="utf-8") if path.is_file() else None
        return self.texts[path]

    def set_text(self, path: Path, text: str | None) -> None:
        self.texts[path] = text
        self.plan.files[path] = text

    def block(self, project: str, message: str, file: str | None = None, line: int | None = None,
              hint: str | None = None) -> None:
        where = self.plan.relative(self.s[project].root / file) if file else None
        self.plan.blockers.append(Blocker(f"{project}: {message}", where, line, hint))

    def code_files(self, project: str) -> list[str]:
        source = self.s[project]
        return [f for f in source.files if source.kind_of_path(f) and f.endswith((*_CODE, *_YAML))]

    # -- the source hack -----------------------------------------------------------------------
    def source_hacks(self, consumer: str) -> None:
        """Sources of `consumer` that read another project's model's relation become refs."""
        targets, hacked = self._hacked_sources(consumer)
        if not targets:
            return
        rewritten = self._rewrite_source_calls(consumer, targets)
        self._check_source_readers(consumer, hacked, rewritten)
        self._remove_hacked_sources(consumer, hacked)

    def _hacked_sources(self, consumer: str) -> tuple[dict[tuple[str, str], RefTarget],
                                                       dict[str, tuple[str, Node]]]:
        """(source, table) → the model it becomes a ref to, and source id → (producer, model)."""
        by_relation: dict[str, tuple[str, Node]] = {}
        for producer in self.s:
            if producer == consumer:
                continue
            for node in self.own(producer).values():
                key = relation_key(node.relation_name)
                if key and node.resource_type in ("model", "seed", "snapshot") and node.config.enabled:
                    by_relation.setdefault(key, (producer, node))
        targets: dict[tuple[str, str], RefTarget] = {}
        hacked: dict[str, tuple[str, Node]] = {}
        for uid, src in self.s[consumer].manifest.sources.items():
            if src.package_name != consumer:
                continue
            found = by_relation.get(relation_key(src.relation_name) or "")
            if found is None:
                continue
            producer, node = found
            if node.resource_type != "model":
                self.block(consumer, f"source {src.source_name}.{src.name} reads the {node.resource_type} "
                           f"{producer}.{node.name}; cross-project refs reach models only",
                           src.original_file_path,
                           hint=f"add a public model to {producer} that selects from {node.name}, "
                                f"and declare that as the source's identifier")
                continue
            version = str(node.version) if node.version not in (None, "") else None
            targets[(src.source_name, src.name)] = RefTarget(producer, node.name, version)
            hacked[uid] = (producer, node)
        return targets, hacked

    def _rewrite_source_calls(self, consumer: str, targets: dict[tuple[str, str], RefTarget]
                              ) -> dict[str, set[tuple[str, str]]]:
        """Rewrites the literal source() calls of the consumer's files; file → (source, table)
        rewritten in it."""
        source = self.s[consumer]
        rewritten: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for path in self.code_files(consumer):
            full = source.root / path
            mode = "python" if path.endswith(".py") else "yaml" if path.endswith(_YAML) else "sql"
            result = rewrite_sources(self.text(full) or "", targets, mode=mode)
            for name, table, line in result.rewritten:
                target = targets[(name, table)]
                rewritten[path].add((name, table))
                self.plan.conversions.append(Conversion(
                    "source", consumer, target.project,
                    f"source('{name}', '{table}') → ref('{target.project}', '{target.model}')", path, line))
            if result.rewritten:
                self.set_text(full, result.text)
        return rewritten

    def _check_source_readers(self, consumer: str, hacked: dict[str, tuple[str, Node]],
                              rewritten: dict[str, set[tuple[str, str]]]) -> None:
        """Every reader must have been rewritten, or the source has to stay."""
        sources = self.s[consumer].manifest.sources
        for node in self.own(consumer).values():
            for parent in node.depends_on.nodes:
                if parent not in hacked:
                    continue
                src = sources[parent]
                file = node.original_file_path
                if (src.source_name, src.name) not in rewritten.get(file, set()):
                    self.block(consumer, f"{node.resource_type} {node.name} reads source "
                               f"{src.source_name}.{src.name} in a way meshkit cannot rewrite "
                               f"(not a literal source('{src.source_name}', '{src.name}'))", file,
                               hint=f"write it as {{{{ source('{src.source_name}', '{src.name}') }}}} "
                                    "and run connect again, or as "
                                    f"{{{{ ref('{hacked[parent][0]}', '{hacked[parent][1].name}') }}}}")

    def _remove_hacked_sources(self, consumer: str, hacked: dict[str, tuple[str, Node]]) -> None:
        source = self.s[consumer]
        by_file: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for uid, (producer, node) in hacked.items():
            src = source.manifest.sources[uid]
            by_file[src.original_file_path].add((src.source_name, src.name))
            self.use(consumer, producer, node)
            tests = sorted(n.name for n in self.own(consumer).values()
                           if n.resource_type == "test" and uid in n.depends_on.nodes)
            if tests:
                self.plan.warnings.append(f"{consumer}: the tests of source {src.source_name}.{src.name} "
                                          f"go with it ({', '.join(tests)}); {producer}.{node.name}'s own "
                                          f"tests check that table now")
        for file, tables in by_file.items():
            full = source.root / file
            self.set_text(full, remove_source_tables(self.text(full) or "", file, tables))

    # -- the package hack ----------------------------------------------------------------------
    def package_hacks(self, consumer: str) -> None:
        """Mesh projects `consumer` installs as local packages become cross-project refs."""
        installs = [i for i in projects_installed_as_packages(self.mesh) if i.project == consumer]
        if not installs:
            return
        own_models = {n.name for n in self.own(consumer).values() if n.resource_type == "model"}
        for install in installs:
            if not install.how.startswith("local:"):
                self.block(consumer, f"installs the mesh project '{install.installed}' from git "
                           "or dbt Hub (package-lock.yml)", "packages.yml",
                           hint="remove that entry from packages.yml by hand, run `dbt deps`, "
                                "then `meshkit connect plan` again")
                continue
            self._package_hack(consumer, install, own_models)

    def _package_hack(self, consumer: str, install: ProjectInstall, own_models: set[str]) -> None:
        producer = install.installed
        source = self.s[consumer]
        self.check_package_use(consumer, producer)
        models = {n.name: n for n in self.own(producer).values() if n.resource_type == "model"}

        def resolve(name: str, package: str | None) -> str | None:
            if package is None and name in models and name not in own_models:
                return producer
            return None

        rewritten: dict[str, set[str]] = defaultdict(set)
        for path in self.code_files(consumer):
            full = source.root / path
            mode = "python" if path.endswith(".py") else "yaml" if path.endswith(_YAML) else "sql"
            result = rewrite_refs(self.text(full) or "", resolve, mode=mode)
            for name, _, line in result.rewritten:
                rewritten[path].add(name)
                self.plan.conversions.append(Conversion(
                    "package", consumer, producer, f"ref('{name}') → ref('{producer}', '{name}')",
                    path, line))
            if result.rewritten:
                self.set_text(full, result.text)
        self._use_package_models(consumer, producer, models, own_models, rewritten)
        self.plan.conversions.append(Conversion("package", consumer, producer,
                                                f"package removed ({install.how})",
                                                install.file.name, install.line))
        self.remove_install(consumer, producer, install)

    def _use_package_models(self, consumer: str, producer: str, models: dict[str, Node],
                            own_models: set[str], rewritten: dict[str, set[str]]) -> None:
        """The consumer's refs to the package's models: each must have been rewritten."""
        for node in self.own(consumer).values():
            for ref in node.refs:
                target = models.get(ref.name)
                if target is None or ref.package not in (None, producer) or \
                        (ref.package is None and ref.name in own_models):
                    continue
                if ref.package is None and ref.name not in rewritten.get(node.original_file_path, set()) \
                        and node.original_file_path.endswith(_CODE):
                    self.block(consumer, f"{node.name} refs {producer}'s model {ref.name} in a way "
                               "meshkit cannot rewrite", node.original_file_path,
                               hint=f"write it as {{{{ ref('{producer}', '{ref.name}') }}}}")
                self.use(consumer, producer, target)

    def check_package_use(self, consumer: str, producer: str) -> None:
        """What a package gives that a cross-project ref does not: macros, sources, seeds."""
        source = self.s[consumer]
        macros = source.manifest.macros
        users: list[tuple[str, str, str]] = []     # (file, what, name)
        for node in self.own(consumer).values():
            for macro in node.depends_on.macros:
                if macro.split(".")[1] == producer:
                    users.append((node.original_file_path, "macro", macros[macro].name if macro in macros
                                  else macro.split(".")[-1]))
            for parent in node.depends_on.nodes:
                kind, package = parent.split(".")[:2]
                if package == producer and kind in ("source", "seed", "snapshot"):
                    users.append((node.original_file_path, kind, ".".join(parent.split(".")[2:])))
        for defined in macros.values():
            if defined.package_name == consumer:
                for callee in defined.depends_on.macros:
                    if callee.split(".")[1] == producer:
                        users.append((defined.original_file_path, "macro", callee.split(".")[-1]))
        # dbt records a model's macro calls only when it compiles: look for them in the code too.
        theirs = {mc.name for mc in macros.values() if mc.package_name == producer}
        mine = {mc.name for mc in macros.values() if mc.package_name == consumer}
        for path in self.code_files(consumer):
            text = self.text(source.root / path) or ""
            called = calls_in_jinja(text, theirs - mine) if path.endswith(".sql") else set()
            called |= {m for m in theirs if f"{producer}.{m}(" in text}
            users.extend((path, "macro", name) for name in called)
        hints = {"macro": "move it into an internal package (`meshkit new package`) installed by both projects",
                 "source": f"declare the source in {consumer} too, or read a public model of {producer}",
                 "seed": f"ref a public model of {producer} that selects from the seed",
                 "snapshot": f"ref a public model of {producer} that selects from the snapshot"}
        for file, kind, name in sorted(set(users)):
            text = self.text(source.root / file) or ""
            short = name.split(".")[-1]
            rows = text.splitlines()
            line = next((i + 1 for i, row in enumerate(rows) if f"{short}(" in row or f"'{short}'" in row
                         or f'"{short}"' in row), None) or \
                next((i + 1 for i, row in enumerate(rows) if short in row), None)
            self.block(consumer, f"uses the {kind} {name} of the package {producer}, which a "
                       f"cross-project ref does not bring", file, line, hint=hints[kind])

    def remove_install(self, consumer: str, producer: str, install: ProjectInstall) -> None:
        root = self.s[consumer].root
        target = self.mesh.projects[producer].path.resolve()

        def is_it(entry: object) -> bool:
            local = entry.get("local") if isinstance(entry, dict) else None
            return isinstance(local, str) and (root / local).resolve() == target

        text = self.text(install.file) or ""
        self.set_text(install.file, remove_list_entries(text, install.file.name, "packages", is_it))
        lock = root / "package-lock.yml"
        if lock.is_file():
            kept = remove_list_entries(self.text(lock) or "", lock.name, "packages", is_it)
            left = pyyaml.safe_load(kept or "") or {}
            # A lock of no packages (only its sha1_hash) would be stale: dbt deps writes a new one.
            self.set_text(lock, kept if isinstance(left, dict) and left.get("packages") else None)
        installed = root / "dbt_packages" / producer
        if installed.exists() or installed.is_symlink():
            self.plan.remove_dirs.append(installed)
        self.remove_config_blocks(consumer, producer)

    def remove_config_blocks(self, consumer: str, producer: str) -> None:
        """`models: {producer: …}` in the consumer's dbt_project.yml configured the package."""
        from ruamel.yaml.comments import CommentedMap

        from meshkit.files.yamltext import TextDoc

        path = self.s[consumer].root / "dbt_project.yml"
        doc = TextDoc(self.text(path) or "", str(path))
        data = doc.data
        if not isinstance(data, CommentedMap):
            return
        spans = []
        for section in _CONFIG_SECTIONS:
            block = data.get(section)
            if isinstance(block, CommentedMap) and producer in block:
                spans.append(doc.key_span(data, section) if len(block) == 1
                             else doc.key_span(block, producer))
        if spans:
            self.set_text(path, doc.edited(spans))
            self.plan.warnings.append(f"{consumer}/dbt_project.yml: the configs of the package "
                                      f"{producer} are removed; {producer}'s own dbt_project.yml configures its models")

    # -- consequences --------------------------------------------------------------------------
    def use(self, consumer: str, producer: str, node: Node) -> None:
        self.upstream[consumer].add(producer)
        if node.database:
            self.read_dbs[consumer].add(node.database)
        if node.config.materialized == "ephemeral":
            self.block(consumer, f"reads the ephemeral model {producer}.{node.name}, which has no "
                       "table another project could read", hint=f"materialize it as a view or table in {producer}")
            return
        self.publics[(producer, node.name)] = node

    def make_public(self) -> None:
        for (producer, name), node in sorted(self.publics.items()):
            access = access_of(node)
            if access == "public":
                continue
            root = self.s[producer].root
            self.plan.public.append(f"{producer}.{name} ({access} → public)")
            code = root / node.original_file_path
            text, changed = set_sql_access(self.text(code) or "", "public")
            if changed:
                self.set_text(code, text)
                continue
            if node.patch_path:
                yml = root / node.patch_path.split("://", 1)[-1]
                edited = make_public(self.text(yml) or "", yml.name, name)
                if edited is None:     # flow style: the round-trip dumper keeps comments
                    from meshkit.split.plan import PublicModel
                    from meshkit.split.render import edit_models
                    edited = edit_models(self.text(yml) or "", yml.name,
                                         [PublicModel(producer, name, node.unique_id, access, "unknown", "")])
                self.set_text(yml, edited)
                continue
            folder = code.parent
            path = folder / "_public_models.yml"
            existing = self.text(path)
            entry = f"  - name: {name}\n    config:\n      access: public\n"
            if existing is None:
                self.set_text(path, "version: 2\n\n# Written by `meshkit connect`: models other "
                                    "projects of the mesh read.\nmodels:\n" + entry)
            else:
                self.set_text(path, existing + entry)

    def dependencies(self) -> None:
        for consumer, producers in sorted(self.upstream.items()):
            root = self.s[consumer].root
            declared = set(declared_projects(root))
            new = sorted(producers - declared)
            self.plan.upstream[consumer] = sorted(producers)
            if new:
                path = root / "dependencies.yml"
                self.set_text(path, add_projects(self.text(path), new))

    def profiles(self) -> None:
        """On DuckDB, a consumer must attach each producer's file it does not read yet."""
        from meshkit.scaffold.profiles import duckdb_stem

        for consumer, producers in sorted(self.upstream.items()):
            source = self.s[consumer]
            path = source.root / "profiles.yml"
            output, profile = _output(self.text(path), source.profile)
            if output is None or output.get("type") != "duckdb":
                continue
            own = _database_of(output)
            attached = {own} | {str(a.get("alias") or duckdb_stem(str(a.get("path", ""))) or
                                    Path(str(a.get("path", ""))).stem)
                                for a in output.get("attach") or [] if isinstance(a, dict)}
            missing = []
            for producer in sorted(producers):
                p_source = self.s[producer]
                p_output, _ = _output(self.text(p_source.root / "profiles.yml"), p_source.profile)
                database = _database_of(p_output) if p_output else None
                if database is None or database in attached or database not in self.read_dbs[consumer]:
                    continue
                file = str(p_output.get("path", ""))
                if "{{" in file or "://" in file or file.startswith("md:"):
                    self.plan.warnings.append(f"{consumer}/profiles.yml: attach {producer}'s DuckDB file "
                                              f"({file}) as '{database}', read-only, by hand")
                    continue
                relative = os.path.relpath((p_source.root / file).resolve(), source.root) \
                    if not Path(file).is_absolute() else file
                missing.append((database, Path(relative).as_posix()))
            if missing:
                self.set_text(path, _attach(self.text(path) or "", source.profile, missing))

    def run(self) -> ConnectPlan:
        for consumer in self.s:
            self.source_hacks(consumer)
            self.package_hacks(consumer)
        self.make_public()
        self.dependencies()
        self.profiles()
        for public in self.plan.public:
            self.plan.warnings.append(f"{public.split(' ')[0]} is public now without an enforced "
                                      "contract: add one (`meshkit check` asks for it)")
        return self.plan


def _output(text: str | None, profile: str):
    if not text:
        return None, None
    data = pyyaml.safe_load(text) or {}
    entry = data.get(profile) if isinstance(data, dict) else None
    if not isinstance(entry, dict):
        return None, None
    outputs = entry.get("outputs") or {}
    return outputs.get(entry.get("target")), entry


def _database_of(output: dict | None) -> str | None:
    """The catalog name dbt-duckdb gives the target's file: `database:`, else the file's stem."""
    if not output:
        return None
    if output.get("database"):
        return str(output["database"])
    path = str(output.get("path") or "")
    if not path or path == ":memory:":
        return "memory"
    return PurePosixPath(path.replace("\\", "/")).stem


def _attach(text: str, profile: str, missing: list[tuple[str, str]]) -> str:
    """profiles.yml with read-only attachments added to every DuckDB output of `profile`."""
    style = guess_style(text)
    data = load(text, "profiles.yml")
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    for output in (data[profile].get("outputs") or {}).values():
        if not isinstance(output, CommentedMap) or output.get("type") != "duckdb":
            continue
        attach = output.get("attach")
        if not isinstance(attach, CommentedSeq):
            attach = CommentedSeq()
            output["attach"] = attach
        for database, path in missing:
            entry = CommentedMap([("path", path)])
            if PurePosixPath(path).stem != database:
                entry["alias"] = database
            entry["read_only"] = True
            attach.append(entry)
    return dump(data, style)


def plan_connect(mesh: Mesh, sources: dict[str, SourceProject]) -> ConnectPlan:
    """Plan turning the source and package hacks between the mesh's projects into
    cross-project refs (nothing is written; see apply_connect)."""
    return _Planner(mesh, sources).run()


def apply_connect(plan: ConnectPlan) -> list[str]:
    """Write the plan's files (each replaced atomically) and remove installed copies of
    producers. Refuses a plan with blockers. Returns the changed paths, relative to the mesh."""
    if plan.blockers:
        raise MeshError("connect cannot convert everything; nothing was written:\n" +
                        "\n".join(f"  - {b.render()}" for b in plan.blockers),
                        hint="`meshkit connect plan` shows the whole plan")
    staged: list[tuple[Path, Path | None]] = []
    try:
        for path, text in plan.files.items():
            if text is None:
                staged.append((path, None))
                continue
            tmp = path.with_name(f".{path.name}.meshkit-connect")
            tmp.write_text(text, encoding="utf-8")
            staged.append((path, tmp))
    except OSError as exc:
        for _, written in staged:
            if written is not None:
                written.unlink(missing_ok=True)
        raise MeshError(f"cannot write: {exc.strerror}", file=exc.filename) from None
    for path, written in staged:
        if written is None:
            path.unlink(missing_ok=True)
        else:
            written.replace(path)
    for folder in plan.remove_dirs:
        if folder.is_symlink() or folder.is_file():
            folder.unlink()
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return sorted(plan.relative(p) for p in plan.files)
