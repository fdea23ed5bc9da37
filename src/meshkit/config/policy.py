"""Governance policies: the `governance:` mapping of mesh.yml and a project's governance.yml.

Both have the same shape:

    governance:                       # mesh.yml; a project's governance.yml has no wrapper key
      rules:
        root_model: off               # short form: just a severity
        public_model_undocumented:
          severity: warn
          error_after: 2026-03-01     # warn until this date, then error
          params: {min_columns: 1}
          scope: {projects: [analytics], groups: [core], paths: ["models/marts/*"],
                  select: ["tag:certified"], exclude: ["access:private"]}
          overridable: true           # mesh.yml only: projects may loosen this rule
      exceptions:
        - rule: public_model_undocumented
          nodes: [analytics.fct_orders]
          reason: columns are being documented in JIRA-123
          expires: 2026-02-01
      custom_rules: [governance/rules.py]
      score: {required_meta: [domain], open_table_format: false}   # mesh.yml only

This module only reads and validates the shape, with file:line errors. Which rule ids and
parameters exist, and whether a project loosens a mesh rule, is decided in meshkit.govern,
which knows the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import msgspec

from meshkit.config.yamlfile import convert, line_of, read_yaml, resolve_path, shorten
from meshkit.errors import MeshError
from meshkit.status import Severity

PROJECT_POLICY_FILE = "governance.yml"


class _ScopeSpec(msgspec.Struct, forbid_unknown_fields=True):
    projects: list[str] | None = None
    groups: list[str] | None = None
    paths: list[str] | None = None
    select: list[str] | None = None
    exclude: list[str] | None = None


class _RuleSpec(msgspec.Struct, forbid_unknown_fields=True):
    severity: Severity | None = None
    error_after: date | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    scope: _ScopeSpec | None = None
    overridable: bool = False


class _ExceptionSpec(msgspec.Struct, forbid_unknown_fields=True):
    rule: str | list[str]
    nodes: list[str]
    reason: str
    expires: date | None = None


class _ScoreSpec(msgspec.Struct, forbid_unknown_fields=True):
    required_meta: list[str] = msgspec.field(default_factory=list)
    open_table_format: bool = False
    bare_prefixes: list[str] = msgspec.field(default_factory=lambda: ["fct_", "dim_"])


class _GovernanceSpec(msgspec.Struct, forbid_unknown_fields=True):
    rules: dict[str, Any] = msgspec.field(default_factory=dict)
    exceptions: list[Any] = msgspec.field(default_factory=list)
    custom_rules: list[str] = msgspec.field(default_factory=list)
    score: dict[str, Any] | None = None


@dataclass(frozen=True)
class Scope:
    """Where a rule setting applies; every given criterion must hold (lists are OR-ed)."""

    projects: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class RulePolicy:
    rule: str
    severity: Severity | None = None
    error_after: date | None = None
    params: dict[str, Any] = field(default_factory=dict)
    scope: Scope | None = None
    overridable: bool = False
    file: Path | None = None
    line: int | None = None


@dataclass(frozen=True)
class PolicyException:
    rules: tuple[str, ...]
    nodes: tuple[str, ...]
    reason: str
    expires: date | None = None
    file: Path | None = None
    line: int | None = None


@dataclass(frozen=True)
class ScoreSettings:
    """How data-product scores are computed: one agreed method for the whole mesh."""

    required_meta: tuple[str, ...] = ()
    open_table_format: bool = False
    bare_prefixes: tuple[str, ...] = ("fct_", "dim_")


@dataclass(frozen=True)
class Policy:
    """One policy document: the mesh's (owner "mesh") or a project's (owner = its name)."""

    owner: str
    file: Path | None = None
    rules: dict[str, RulePolicy] = field(default_factory=dict)
    exceptions: tuple[PolicyException, ...] = ()
    custom_rules: tuple[Path, ...] = ()
    score: ScoreSettings = field(default_factory=ScoreSettings)
    params_lines: dict[tuple[str, str], int | None] = field(default_factory=dict, repr=False)

    @property
    def is_mesh(self) -> bool:
        return self.owner == MESH


MESH = "mesh"


def mesh_policy(doc: Any, file: Path) -> Policy:
    """The `governance:` mapping of mesh.yml (None or absent: the built-in defaults).

    Custom rule files must lie inside the mesh's folder (mesh.yml's)."""
    if doc is None:
        return Policy(MESH, file)
    return _parse(doc, file, owner=MESH, prefix="governance.", allowed=(file.parent.resolve(),))


def project_policy(project: str, project_dir: Path, mesh_root: Path | None = None) -> Policy | None:
    """A project's governance.yml beside its dbt_project.yml, if it has one.

    Custom rule files must lie inside the project's folder or the mesh's (`mesh_root`): a
    project's policy never runs Python from elsewhere on the disk."""
    file = project_dir / PROJECT_POLICY_FILE
    if not file.is_file():
        return None
    doc = read_yaml(file)
    if doc is None:
        return Policy(project, file)
    allowed = tuple(p.resolve() for p in (project_dir, mesh_root) if p is not None)
    return _parse(doc, file, owner=project, prefix="", allowed=allowed)


def _parse(doc: Any, file: Path, *, owner: str, prefix: str, allowed: tuple[Path, ...]) -> Policy:
    if not isinstance(doc, dict):
        raise MeshError(f"{prefix or 'the policy'} must be a mapping with rules:, exceptions:, "
                        "custom_rules:", file=file, line=line_of(doc, "$"))
    spec = convert(doc, _GovernanceSpec, file=file)
    if owner != MESH and spec.score is not None:
        raise MeshError("score: is mesh-wide (one scoring method for every data product)",
                        file=file, line=line_of(doc, "$.score"),
                        hint="move it to the governance: section of mesh.yml")
    rules = {}
    params_lines = {}
    for rule_id, entry in spec.rules.items():
        rules[rule_id] = _rule(rule_id, entry, doc, file, owner)
        for name in rules[rule_id].params:
            params_lines[(rule_id, name)] = line_of(doc, f"$.rules.{rule_id}.params.{name}")
    exceptions = tuple(_exception(i, entry, doc, file) for i, entry in enumerate(spec.exceptions))
    custom = tuple(_custom_rule_file(written, index, doc, file, allowed)
                   for index, written in enumerate(spec.custom_rules))
    score = ScoreSettings()
    if spec.score is not None:
        parsed = convert(spec.score, _ScoreSpec, file=file, doc=doc, at="$.score")
        score = ScoreSettings(tuple(parsed.required_meta), parsed.open_table_format,
                              tuple(parsed.bare_prefixes))
    return Policy(owner, file, rules, exceptions, custom, score, params_lines)


def _custom_rule_file(written: str, index: int, doc: Any, file: Path,
                      allowed: tuple[Path, ...]) -> Path:
    """A custom rule file: an existing .py file inside one of the `allowed` folders (symlinks
    resolved first, so a link cannot lead outside)."""
    line = line_of(doc, f"$.custom_rules[{index}]")
    path = resolve_path(file.parent, written, file=file, line=line,
                        what=f"custom rule file '{shorten(written)}'")
    if not any(path == folder or folder in path.parents for folder in allowed):
        raise MeshError(f"custom rule file '{shorten(written)}' is outside the mesh repository "
                        f"({path})", file=file, line=line,
                        hint="custom rules run as Python: keep them in the mesh repository"
                             + (" or the project's folder" if len(allowed) > 1 else "")
                             + f" ({', '.join(str(folder) for folder in allowed)})")
    if not path.is_file() or path.suffix != ".py":
        what = "is not a Python (.py) file" if path.is_file() else "does not exist"
        raise MeshError(f"custom rule file '{shorten(written)}' {what}", file=file, line=line,
                        hint="paths are relative to the file that lists them")
    return path


def _rule(rule_id: str, entry: Any, doc: Any, file: Path, owner: str) -> RulePolicy:
    at = f"$.rules.{rule_id}"
    line = line_of(doc, at)
    if entry is False:          # `off` read as YAML 1.1 false by some tools: be forgiving
        entry = Severity.OFF.value
    if isinstance(entry, str):
        entry = {"severity": entry}
    if not isinstance(entry, dict):
        raise MeshError(f"rule '{rule_id}': expected a severity (off, info, warn, error) or a "
                        "mapping with severity:, error_after:, params:, scope:", file=file, line=line)
    spec = convert(entry, _RuleSpec, file=file, doc=doc, at=at)
    if spec.overridable and owner != MESH:
        raise MeshError(f"rule '{rule_id}': only mesh.yml can make a rule overridable", file=file,
                        line=line_of(doc, f"{at}.overridable"))
    if spec.error_after is not None and spec.severity is Severity.ERROR:
        raise MeshError(f"rule '{rule_id}': error_after needs a lower severity to start from "
                        "(warn or info)", file=file, line=line_of(doc, f"{at}.error_after"),
                        hint="write `severity: warn` with `error_after: DATE` to warn until DATE")
    severity = spec.severity or (Severity.WARN if spec.error_after else None)
    return RulePolicy(rule_id, severity, spec.error_after, dict(spec.params),
                      _scope(spec.scope), spec.overridable, file, line)


def _scope(spec: _ScopeSpec | None) -> Scope | None:
    if spec is None:
        return None
    return Scope(tuple(spec.projects or ()), tuple(spec.groups or ()), tuple(spec.paths or ()),
                 tuple(spec.select or ()), tuple(spec.exclude or ()))


def _exception(index: int, entry: Any, doc: Any, file: Path) -> PolicyException:
    at = f"$.exceptions[{index}]"
    spec = convert(entry, _ExceptionSpec, file=file, doc=doc, at=at)
    line = line_of(doc, at)
    if not spec.reason.strip():
        raise MeshError("an exception needs a reason", file=file, line=line_of(doc, f"{at}.reason"),
                        hint="say why the rule does not apply, so reviewers can judge it")
    if not spec.nodes:
        raise MeshError("an exception needs the nodes it covers", file=file, line=line)
    rules = (spec.rule,) if isinstance(spec.rule, str) else tuple(spec.rule)
    return PolicyException(rules, tuple(spec.nodes), spec.reason.strip(), spec.expires, file, line)
