"""Fuzzing what users write: mesh.yml (jobs and governance included), a project's
governance.yml and dependencies.yml, and selectors. Whatever the input, loading it either
succeeds or raises MeshError naming the file it came from; the command line exits 0–2 and
never prints a traceback.

The loaders run in-process (fast); a few CLI runs check the exit-code contract. Hypothesis
runs derandomized with a fixed number of examples, so CI sees the same inputs every time.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run
from meshkit.config import load_mesh
from meshkit.config.dependencies import declared_projects
from meshkit.errors import MeshError
from meshkit.graph.selection import Selector
from meshkit.jobs.schedule import due_times, next_time

FUZZ = settings(derandomize=True, max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROJECTS = ("alpha", "beta")


# -- YAML text with the shapes meshkit reads, and values that are almost right -----------------
@dataclass(frozen=True)
class Raw:
    """Text written into the YAML as is: plain scalars YAML itself interprets."""

    text: str


def emit(value) -> str:
    """Flow-style YAML: keys and strings as JSON (valid YAML), Raw verbatim."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{emit(k)}: {emit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(emit(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(value, ".nan")
    return json.dumps(value, ensure_ascii=False)   # JSON escapes astral characters as surrogates


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """Usually the right shape (so loading gets past it), now and then anything."""
    return st.integers(0, 7).flatmap(lambda pick: bad if pick == 0 else good)


RAW = st.sampled_from([Raw(t) for t in (
    "2026-02-30", "2026-13-01", "2026-01-01", "2026-01-01T25:00:00", ".nan", ".inf", "-1", "0",
    "1e999", "~", "yes", "off", "!!binary AAAA", "!!int x", "!!float x", "!!timestamp x",
    "*nope", "&a 1", "[" * 300, "'unclosed", "0x_", "0o9", "!!set {a}", "!!omap [1]",
    '"\\ud83d"', '"\\ud83d\\ude00"')])
TEXT = mostly(st.sampled_from(["alpha", "beta", "prod", "dev", "x", "", " ", "models/x", "*",
                               "a\x00b", "\t", "é", "💥", "x" * 300]),
              st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=True, allow_infinity=True), TEXT, RAW)
LEAF = st.one_of(SCALAR, st.lists(SCALAR, max_size=3),
                 st.dictionaries(TEXT, SCALAR, max_size=2))


def mapping(**fields) -> st.SearchStrategy:
    """A mapping with some of these keys (value strategies), or now and then not a mapping."""
    return mostly(st.fixed_dictionaries({}, optional=fields), LEAF)


def names(*known: str) -> st.SearchStrategy:
    return mostly(st.sampled_from(known), TEXT)


def listed(item: st.SearchStrategy, size: int = 3) -> st.SearchStrategy:
    return mostly(st.lists(item, max_size=size), LEAF)


FLAG = mostly(st.booleans(), SCALAR)
NUMBER = mostly(st.integers(-3, 10), SCALAR)
CRON = mostly(st.sampled_from(["0 6 * * *", "0 0 31 2 *", "0 0 30 2 1", "@daily", "@reboot",
                               "0 0 1 2 * 5", "0 0 1 2 * 5 2030", "*/0 * * * *", "60 * * * *",
                               "0 0 L * *", "0 0 * * 1#6", "H H * * *", "1-0 * * * *"]),
              st.one_of(st.lists(st.sampled_from(["*", "0", "31", "2", "*/5", "1-3", "L", "?", "7",
                                                  "-1", "29", "30"]),
                                 min_size=1, max_size=8).map(" ".join), SCALAR))
SELECTOR = mostly(
    st.lists(st.sampled_from(["+", "@", "2+", "+1", ",", " ", ":", "alpha", "beta", "tag", "tags",
                              "project", "state", "modified", "fct_*", "path", "models/x", "(",
                              "*", ".", "config.materialized", "file", "x.sql", "source"]),
             min_size=1, max_size=8).map("".join), TEXT)
SELECTORS = mostly(st.one_of(SELECTOR, st.lists(SELECTOR, max_size=3)), LEAF)
JOB = mapping(
    project=names(*PROJECTS), projects=listed(names(*PROJECTS)), select=SELECTORS,
    exclude=SELECTORS, environment=names("prod", "dev"), description=TEXT,
    schedule=st.one_of(CRON, mapping(cron=CRON, timezone=names("UTC", "Europe/Paris", "Mars/Base"))),
    triggers=mapping(on_completion=st.one_of(names("j1", "j2"), mapping(
        job=names("j1", "j2"), all_of=listed(names("j1", "j2")), any_of=listed(names("j1", "j2")),
        statuses=listed(names("success", "error", "canceled"))))),
    timeout=mostly(st.sampled_from(["90m", "2h", "1e999", "-5s", "0", 3600, 0.5]), SCALAR),
    threads=NUMBER, workers=NUMBER, retries=NUMBER, retry_on=listed(names("error", "timeout")),
    overlap=names("wait", "skip"), generate_docs=FLAG,
    source_freshness=st.one_of(FLAG, mapping(enabled=FLAG, fail_job=FLAG)),
    notify=mapping(on=listed(names("failure", "success")), email=FLAG, to=LEAF,
                   webhook=names("https://h.example/x", "ftp://x"),
                   smtp=mapping(host=TEXT, port=mostly(st.integers(-1, 70_000), SCALAR),
                                tls=names("ssl", "none"))))
RULE = st.one_of(names("off", "warn", "error", "info"), mapping(
    severity=names("warn", "error", "info"), error_after=st.one_of(RAW, SCALAR),
    params=st.dictionaries(names("max_versions", "tags", "nope"), LEAF, max_size=2),
    scope=mapping(projects=listed(names(*PROJECTS, "alph*", "analytcs"), 2), groups=listed(TEXT),
                  paths=listed(TEXT), select=listed(SELECTOR, 2), exclude=listed(SELECTOR, 2)),
    overridable=FLAG))
GOVERNANCE = mapping(
    rules=mostly(st.dictionaries(names("root_model", "too_many_live_versions", "undocumented_model",
                                       "public_model_exposes_personal_data"), RULE, max_size=3), LEAF),
    exceptions=listed(mapping(rule=names("root_model", "*"), nodes=listed(TEXT), reason=TEXT,
                              expires=st.one_of(RAW, SCALAR)), 2),
    custom_rules=listed(names("rules.py", "../rules.py", "/etc/passwd", "missing.py",
                              "../../outside.py", "rules.py\x00", "."), 2),
    score=mapping(required_meta=listed(TEXT), open_table_format=FLAG))
SECTIONS = {
    "packages": mostly(st.dictionaries(names("pkg", "alpha"), names("alpha", "pkg"), max_size=1),
                       LEAF),
    "store": names("", ".", "..", "store", "s3://", "nosuch://x", "a\x00b", "/"),
    "environments": mostly(st.dictionaries(names("prod", "dev", "ci"), mapping(
        target=TEXT, type=names("production", "development", "staging"),
        upstream_environment=names("prod", "dev")), max_size=3), LEAF),
    "default_environment": names("prod", "dev"),
    "governance": GOVERNANCE,
    "jobs": mostly(st.dictionaries(names("j1", "j2", "bad name"), JOB, max_size=2), LEAF),
}


def valid_but(*sections: str) -> st.SearchStrategy:
    """A mesh.yml whose name and projects are right: these sections are where it goes wrong."""
    return st.fixed_dictionaries({"name": st.just("fuzz"),
                                  "projects": st.just({p: p for p in PROJECTS})},
                                 optional={key: SECTIONS[key] for key in sections})


MESH = st.fixed_dictionaries(
    {"name": mostly(st.just("fuzz"), SCALAR),
     "projects": mostly(st.dictionaries(names(*PROJECTS), mostly(
         names(*PROJECTS, "../alpha", "alpha\x00", "", "x" * 300),
         mapping(path=names(*PROJECTS), environments=listed(names("prod", "dev")))),
         min_size=1, max_size=2), LEAF)},
    optional={**SECTIONS, "unknown_key": LEAF})
DEPENDENCIES = mapping(projects=listed(mapping(name=names(*PROJECTS)), 2), packages=LEAF)
# Damage to the bytes, now and then: a few insertions of anything, invalid UTF-8 included.
DAMAGE = mostly(st.just(()), st.lists(st.tuples(st.integers(0, 10_000),
                                                st.binary(min_size=1, max_size=3)),
                                      min_size=1, max_size=3))


def damaged(text: str, edits) -> bytes:
    data = text.encode("utf-8")
    for position, blob in edits:
        at = position % (len(data) + 1)
        data = data[:at] + blob + data[at:]
    return data


# -- the mesh under test ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mesh_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "mesh"
    for name in PROJECTS:
        (root / name).mkdir(parents=True)
        (root / name / "dbt_project.yml").write_text(f"name: {name}\nprofile: {name}\n")
    (root / "rules.py").write_text("from meshkit.govern import rule\n\n@rule\n"
                                   "def fuzz_rule(model, mesh, limit: int = 3):\n    return None\n")
    (root.parent / "outside.py").write_text("raise SystemExit('custom rule outside the mesh ran')\n")
    return root


def assert_names_a_file(error: MeshError, root: Path) -> None:
    """The error names a file of the mesh (the one that holds the mistake)."""
    assert error.file, f"no file in: {error.render()}"
    assert Path(error.file).resolve().is_relative_to(root.resolve()), error.render()


def load_everything(root: Path) -> None:
    """What `meshkit check`, `jobs ls` and the scheduler read from a mesh."""
    from meshkit.cli.govern import _policies

    mesh = load_mesh(root / "mesh.yml")
    _policies(mesh)
    for project in mesh.projects.values():
        declared_projects(project.path)
    for job in mesh.jobs.values():
        if job.schedule:
            next_time(job.schedule, 1_767_225_600.0)
            due_times(job.schedule, 1_767_225_600.0, 1_767_225_600.0 + 86_400 * 400)


@FUZZ
@given(doc=MESH, edits=DAMAGE)
def test_mesh_yml_never_fails_without_naming_its_file(mesh_root, doc, edits):
    (mesh_root / "mesh.yml").write_bytes(damaged(emit(doc), edits))
    try:
        load_everything(mesh_root)
    except MeshError as error:
        assert_names_a_file(error, mesh_root)


@FUZZ
@given(doc=st.one_of(valid_but("jobs", "governance"),
                     valid_but("environments", "default_environment", "packages", "store")))
def test_mesh_yml_sections_never_fail_without_naming_their_file(mesh_root, doc):
    """Jobs and governance, or environments, packages and the store, past a valid start."""
    (mesh_root / "mesh.yml").write_text(emit(doc))
    try:
        load_everything(mesh_root)
    except MeshError as error:
        assert_names_a_file(error, mesh_root)


@FUZZ
@given(doc=GOVERNANCE, dependencies=DEPENDENCIES, edits=DAMAGE)
def test_project_files_never_fail_without_naming_their_file(mesh_root, doc, dependencies, edits):
    (mesh_root / "mesh.yml").write_text("name: fuzz\nprojects: {alpha: alpha, beta: beta}\n")
    (mesh_root / "alpha" / "governance.yml").write_bytes(damaged(emit(doc), edits))
    (mesh_root / "beta" / "dependencies.yml").write_bytes(damaged(emit(dependencies), edits))
    try:
        load_everything(mesh_root)
    except MeshError as error:
        assert_names_a_file(error, mesh_root)
    finally:
        (mesh_root / "alpha" / "governance.yml").unlink()
        (mesh_root / "beta" / "dependencies.yml").unlink()


@FUZZ
@given(select=st.lists(SELECTOR, min_size=1, max_size=3), exclude=st.lists(SELECTOR, max_size=2))
def test_command_line_selectors_fail_only_as_mesh_errors(select, exclude):
    from test_plan_unit import CHAIN, _graph

    try:
        Selector(_graph(CHAIN), projects=frozenset({"a", "b", "c", "later"})).select(select, exclude)
    except MeshError as error:
        assert error.message


# -- the command line: exit codes 0-2, no traceback, the file named ------------------------------
CLI_CASES = {
    "invalid-utf8": (b"name: m\nprojects:\n  alpha: alpha\n# caf\xe9\n", ["jobs", "ls"]),
    "impossible-date": (b"name: m\nprojects: {alpha: alpha}\ngovernance:\n  rules:\n"
                        b"    root_model: {severity: warn, error_after: 2026-02-30}\n", ["rules"]),
    "nested": (b"name: m\nprojects: " + b"[" * 5000, ["check"]),
    "never-fires": (b"name: m\nprojects: {alpha: alpha}\njobs:\n  j: {schedule: '0 0 31 2 *'}\n",
                    ["jobs", "ls"]),
    "garbage-select": (b"name: m\nprojects: {alpha: alpha}\njobs:\n  j: {select: '+++@@@((('}\n",
                       ["jobs", "run", "j"]),
    "empty-store": (b"name: m\nstore: ''\nprojects: {alpha: alpha}\n", ["store", "ls"]),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_exit_codes_and_no_traceback(tmp_path, mesh_root, case):
    root = tmp_path / "mesh"
    shutil.copytree(mesh_root, root, ignore=shutil.ignore_patterns("mesh.yml"))
    text, args = CLI_CASES[case]
    (root / "mesh.yml").write_bytes(text)
    result = run(["meshkit", *args], cwd=root, check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert str(root / "mesh.yml") in result.stderr
