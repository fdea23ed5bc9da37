"""What a consuming dbt project asks of the mesh, and whether the mesh allows it.

Plain data only (no dbt imports): the plugin hands in the consumer's folder, name and dbt
target; this module finds the mesh, the environment, each declared upstream's interface in
the store, the stand-ins for text that may be a forbidden ref (dbt decides whether it is
one), and words the refusal of a real one, naming file and line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection

from meshkit.config import Mesh, find_mesh_file, load_mesh
from meshkit.dbt.nodes import DEFAULT_ACCESS, version_text
from meshkit.errors import MeshError, close_matches
from meshkit.store.interface import Interface
from meshkit.store.resolve import producer_environment
from meshkit.store.store import Store

ENV_VAR = "MESHKIT_ENV"
# Set by meshkit's orchestrator: an upstream that has not published yet (or lacks a model the
# working copy refs) gets placeholders instead of an error, because the plan builds it first.
LENIENT_VAR = "MESHKIT_LENIENT"
# Set by meshkit's planning parse to a file path: the plugin writes the refs it would refuse
# there (JSON, see `refusal_record`) instead of failing, and the orchestrator refuses those
# whose target this run does not publish as public (meshkit.orchestrate.access).
REFUSALS_VAR = "MESHKIT_REFUSALS"
# Set by meshkit's executor: unique ids of models this run publishes as public before any
# node that reads them is built; a ref to one is a placeholder, not refused.
PUBLIC_IN_RUN_VAR = "MESHKIT_PUBLIC_IN_RUN"
# The version of a stand-in for an unpinned ref next to pinned ones (`model.p.m.vlatest`):
# the orchestrator points its edges at the model's real latest version.
UNPINNED_VERSION = "latest"
# Starts the plugin's refusal of a ref, inside dbt's own error output.
REFUSAL_MARKER = "meshkit refused: "
# Starts any other MeshError the plugin raises (a bad dependencies.yml...) in dbt's output.
ERROR_MARKER = "meshkit: "
# ref('project', 'model'...) with literal names; refs built by Jinja are left to dbt.
# Set by `meshkit ci`: a JSON file of the public models a pull request rebuilt into its own
# relations ({unique_id: {name, package_name, identifier, schema, database, relation_name,
# version, latest_version}}); consumers read those instead of production's.
CI_RELATIONS_VAR = "MESHKIT_CI_RELATIONS"
_REF_RE = re.compile(r"""\bref\(\s*(['"])(\w+)\1\s*,\s*(['"])([\w.]+)\3"""
                     r"""(?:\s*,\s*(?:v|version)\s*=\s*['"]?([\w.]+))?""")
_JINJA_COMMENT_RE = re.compile(r"\{#.*?#\}", re.S)
_SKIP_DIRS = {"target", "dbt_packages", "dbt_modules", "logs", "node_modules"}
_SCANNED = (".sql", ".yml", ".yaml", ".py")


@dataclass(frozen=True)
class Upstream:
    project: str
    environment: str
    run_id: str
    interface: Interface


@dataclass(frozen=True)
class CrossRef:
    file: Path
    line: int
    project: str
    model: str
    version: str | None = None  # None: the model's latest version
    in_jinja_comment: bool = False


def find_consumer_mesh(project_dir: Path) -> Mesh | None:
    """The mesh a dbt project belongs to (mesh.yml in its folder or above), or None.

    Raises MeshError for a mesh.yml that does not load."""
    file = find_mesh_file(project_dir)
    return load_mesh(file) if file else None


def consumer_environment(mesh: Mesh, target: str | None) -> str:
    """MESHKIT_ENV, else the environment mapped to the dbt target, else the mesh default."""
    if explicit := os.environ.get(ENV_VAR):
        return mesh.environment(explicit).name
    for env in mesh.environments.values():
        if target and env.target == target:
            return env.name
    return mesh.environment(None).name


def ci_relations() -> dict[str, dict]:
    """The PR relations `meshkit ci` asks consumers to read (empty outside mesh CI)."""
    import json

    path = os.environ.get(CI_RELATIONS_VAR)
    if not path or not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def is_lenient() -> bool:
    """Whether this parse records refused refs rather than failing (MESHKIT_LENIENT set)."""
    return os.environ.get(LENIENT_VAR, "") not in ("", "0", "false")


def refusals_file() -> Path | None:
    """Where the planning parse records refused refs instead of failing (None: refuse)."""
    value = os.environ.get(REFUSALS_VAR, "")
    return Path(value) if value else None


def public_in_run() -> set[str]:
    """Models the running meshkit build publishes as public before their readers build."""
    return set(os.environ.get(PUBLIC_IN_RUN_VAR, "").split())


def refusal_record(stand_in: "StandIn", consumer: str, node_id: str, node_name: str,
                   error: MeshError) -> dict:
    """One ref the planning parse records: the node, the target and the refusal's words
    (message, file, line, hint), for meshkit.orchestrate.access. A placeholder's
    ("unpublished") is recorded as if the target were protected: the working copy decides."""
    fields = {"consumer": consumer, "node": node_id, "node_name": node_name,
              "target": stand_in.unique_id, "project": stand_in.project,
              "model": stand_in.model, "kind": stand_in.kind, "message": error.message,
              "file": error.file, "hint": error.hint}
    # str(): dbt's names are str subclasses a JSON encoder refuses
    return {key: None if value is None else str(value) for key, value in fields.items()} | {
        "line": error.line}


def load_upstreams(mesh: Mesh, store: Store, consumer: str, env: str,
                   declared: list[str], dependencies_file: Path) -> list[Upstream]:
    """Every declared upstream's published interface, or one clear error; never half."""
    upstreams = []
    lenient = is_lenient()
    for producer in declared:
        if producer == consumer:
            continue
        producer_env = producer_environment(mesh, mesh.environment(env), producer, store)
        found = store.interface(producer, producer_env)
        if found is None and lenient:
            continue
        if found is None:
            meant = close_matches(producer, set(mesh.projects) - {consumer})
            if producer not in mesh.projects and meant:
                raise MeshError(
                    f"project '{consumer}' depends on '{producer}', which is not a project of "
                    f"{mesh.file.name} and has never published (did you mean {_either(meant)}?)",
                    file=dependencies_file, line=_line_naming(dependencies_file, producer),
                    hint=f"fix the name under `projects:`:  - name: {meant[0]}")
            raise MeshError(
                f"project '{consumer}' depends on '{producer}', which has never published to the "
                f"store in environment '{producer_env}' ({store.describe(producer, producer_env)})",
                file=dependencies_file, line=_line_naming(dependencies_file, producer),
                hint=_publish_hint(mesh, producer, producer_env))
        record, interface = found
        upstreams.append(Upstream(producer, producer_env, record.run_id, interface))
    return upstreams


def _publish_hint(mesh: Mesh, producer: str, env: str) -> str:
    if producer in mesh.projects:
        return f"build and publish it first: `meshkit build --project {producer} --env {env}`"
    return (f"'{producer}' is not in {mesh.file.name}: after its `dbt build`, publish it with "
            f"`meshkit publish --project-dir PATH/TO/{producer} --env {env}`")


def _either(names: list[str]) -> str:
    return " or ".join(repr(n) for n in names)


def _line_naming(file: Path, name: str) -> int | None:
    """The line of dependencies.yml that names a project (`- name: analytcs`), if found."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    pattern = re.compile(rf"""^\s*(-\s*)?name\s*:\s*['"]?{re.escape(name)}['"]?\s*(#.*)?$""")
    return next((i for i, text in enumerate(lines, 1) if pattern.match(text)), None)


def scan_cross_refs(project_dir: Path) -> list[CrossRef]:
    """Text that looks like a two-argument ref in the project's SQL, YAML and Python files.

    Candidates only: a mention in a comment, a description or a disabled model is no ref.
    The plugin decides from the refs dbt records (see `plan_stand_ins`)."""
    found = []
    for folder, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
        for name in files:
            if not name.endswith(_SCANNED):
                continue
            path = Path(folder) / name
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if "ref(" not in text:
                continue
            comments = [m.span() for m in _JINJA_COMMENT_RE.finditer(text)]
            for match in _REF_RE.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                commented = any(a <= match.start() < b for a, b in comments)
                found.append(CrossRef(path, line, match.group(2), match.group(4), match.group(5),
                                      commented))
    return found


@dataclass(frozen=True)
class StandIn:
    """A node the plugin injects so that dbt can parse a ref it would otherwise not resolve.

    `kind` says why: "unpublished" (the orchestrator's lenient parse: the plan builds the real
    model first; it stays in the manifest) or "restricted" / "undeclared" / "unknown" (a text
    mention of a model the mesh forbids, or of a project, model or version that does not exist,
    likely a typo: refused only if a node dbt parsed really depends on it, and removed from the
    manifest otherwise).
    """

    project: str
    model: str
    version: str | None
    kind: str
    mentions: tuple[CrossRef, ...]
    access: str = DEFAULT_ACCESS
    group: str | None = None
    latest_version: str | None = None
    # kind "unknown" (a project, model or version nobody publishes): what is wrong, the fix
    problem: str = ""
    fix: str = ""

    @property
    def unique_id(self) -> str:
        """dbt's id for a model node (ModelNodeArgs.unique_id: `.vN` only when versioned)."""
        return f"model.{self.project}.{self.model}" + (f".v{self.version}" if self.version else "")

    @property
    def identifier(self) -> str:
        """Distinct per version: dbt refuses two nodes with one database representation."""
        return f"{self.project}__{self.model}" + (f"__v{self.version}" if self.version else "")

    @property
    def refused(self) -> bool:
        return self.kind != "unpublished"


def plan_stand_ins(refs: list[CrossRef], consumer: str, declared: list[str],
                   upstreams: list[Upstream], is_mesh_project: Callable[[str], bool],
                   lenient: bool, *, packages: Collection[str],
                   known_projects: Collection[str] = (),
                   public_soon: Collection[str] = ()) -> list[StandIn]:
    """One stand-in per (project, model, version) mentioned that the injected public models do
    not answer: refused ones for non-public models and undeclared mesh projects
    (`is_mesh_project`: in mesh.yml or in the store), "unknown" ones for a project that is
    neither that nor one of the installed `packages` (dbt resolves those) and for a model or
    version a declared upstream does not publish, with the names meant among `known_projects`
    and the upstream's interface; and, when `lenient`, placeholders for declared projects that
    have not published them yet (instead of "unknown" ones), or for non-public models whose
    unique id is in `public_soon` (the running build publishes them public first)."""
    by_project = {u.project: u for u in upstreams}
    found: dict[tuple[str, str, str | None], list[CrossRef]] = {}
    for ref in refs:
        if ref.project != consumer:
            found.setdefault((ref.project, ref.model, version_text(ref.version)), []).append(ref)
    stand_ins = []
    pinned = {(p, m) for p, m, v in found if v is not None}
    for (project, model, version), mentions in found.items():
        # dbt refuses a versioned and an unversioned node of one name: with pinned mentions
        # around, the unpinned one is a version of its own that is the latest.
        latest = UNPINNED_VERSION if (project, model) in pinned else None
        version = version or latest
        upstream = by_project.get(project)
        if project not in declared:
            if is_mesh_project(project):
                stand_ins.append(StandIn(project, model, version, "undeclared", tuple(mentions),
                                     latest_version=latest))
            elif project not in packages:
                problem, fix = _unknown_project(project, model,
                                                {*known_projects, *declared} - {consumer})
                stand_ins.append(StandIn(project, model, version, "unknown", tuple(mentions),
                                     latest_version=latest, problem=problem, fix=fix))
            continue
        pinned_version = None if version == latest else version
        if upstream is not None and _answers(upstream.interface, model, pinned_version):
            continue
        restricted = upstream.interface.restricted_by_name().get(model) if upstream else None
        soon = StandIn(project, model, version, "unpublished", tuple(mentions),
                       latest_version=latest)
        if restricted is not None and lenient and soon.unique_id in public_soon:
            stand_ins.append(soon)
        elif restricted is not None:
            stand_ins.append(StandIn(project, model, version, "restricted", tuple(mentions),
                                     restricted.access, restricted.group, latest))
        elif lenient:
            stand_ins.append(soon)
        elif upstream is not None:
            problem, fix = _unknown_model(upstream.interface, model, pinned_version)
            stand_ins.append(StandIn(project, model, version, "unknown", tuple(mentions),
                                     latest_version=latest, problem=problem, fix=fix))
    return stand_ins


def _unknown_project(project: str, model: str, known: set[str]) -> tuple[str, str]:
    meant = close_matches(project, known)
    problem = f"'{project}' is neither a project of the mesh nor an installed package"
    if meant:
        return problem + f" (did you mean {_either(meant)}?)", f"ref('{meant[0]}', '{model}')"
    return problem, ("declare the project under `projects:` in dependencies.yml, or install the "
                     "package (`dbt deps`)")


def _unknown_model(interface: Interface, model: str, version: str | None) -> tuple[str, str]:
    """What a declared upstream lacks (a model, or a version of one), and the names it has."""
    versions = [m.version for m in interface.models if m.name == model and m.version]
    if versions and version is not None:
        latest = next(m.latest_version for m in interface.models if m.name == model)
        return (f"{interface.project}.{model} has no version {version} (published: "
                f"{', '.join(f'v{v}' for v in versions)})",
                f"pin a published version (v={latest} is the latest), or leave out v= for the latest")
    public = interface.public_names()
    meant = close_matches(model, public)
    problem = f"project '{interface.project}' publishes no model '{model}'"
    if meant:
        return problem + f" (did you mean {_either(meant)}?)", \
            f"ref('{interface.project}', '{meant[0]}')"
    return problem, (f"its public models: {', '.join(sorted(public)) or 'none yet'}; a model "
                     "published since needs `meshkit build` of that project first")


def _answers(interface: Interface, model: str, version: str | None) -> bool:
    """Does an injected public model resolve this ref (dbt: unpinned → latest version)?"""
    return any(m.name == model and (version is None or m.version == version)
               for m in interface.models)


def refusal(stand_in: StandIn, node_name: str, node_file: str, consumer: str,
            project_dir: Path, public: set[str]) -> MeshError:
    """The message for a node dbt parsed that depends on a refused stand-in.

    `node_file` is the node's path inside its project (dbt's original_file_path); the line is
    that of the mention in this file outside a Jinja comment, where the text scan found one.
    """
    where = _mention_in(stand_in.mentions, node_file)
    file = (_relative(where.file, project_dir.parent) if where
            else f"{project_dir.name}/{node_file}")
    line = where.line if where else None
    target = f"{stand_in.project}.{stand_in.model}"
    if stand_in.kind == "unknown":
        return MeshError(f"'{node_name}' refs {target}"
                         + (f" v{stand_in.version}" if stand_in.version not in (None, UNPINNED_VERSION)
                            else "") + f", but {stand_in.problem}",
                         file=file, line=line, hint=stand_in.fix)
    if stand_in.kind == "undeclared":
        return MeshError(
            f"'{node_name}' refs {stand_in.project}.{stand_in.model}, but project '{stand_in.project}' is not declared in "
            f"{consumer}/dependencies.yml", file=file, line=line,
            hint=f"add it under `projects:` in dependencies.yml:  - name: {stand_in.project}")
    return access_refusal(node_name, stand_in.project, stand_in.model, stand_in.access,
                          stand_in.group, file, line, public)


def access_refusal(node_name: str, project: str, model: str, access: str, group: str | None,
                   file: str | None, line: int | None, public: set[str]) -> MeshError:
    """The refusal of a ref to a model that is `access` (protected or private to `group`)."""
    scope = (f"private to the '{group}' group" if access == "private"
             else f"protected to project '{project}'")
    return MeshError(
        f"'{node_name}' refs {project}.{model}, which is {scope}; only public models can be "
        f"referenced from another project", file=file, line=line,
        hint=f"ask the owners of '{project}' to set `access: public` on {model} "
             f"and publish again, or ref a public model ({', '.join(sorted(public)) or 'none yet'})")


def _mention_in(mentions: tuple[CrossRef, ...], node_file: str) -> CrossRef | None:
    here = [m for m in mentions if m.file.as_posix().endswith("/" + node_file.lstrip("/"))]
    live = [m for m in here if not m.in_jinja_comment]
    return next(iter(live or here), None)


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
