"""Federated policies: the mesh sets the minimum, each project may only tighten it.

For a resource of project P, a rule's setting is built in layers:

1. the rule's defaults (severity, parameters);
2. the mesh's entry for the rule (outside the entry's scope, the rule is off);
3. P's own entry (governance.yml), where its scope matches.

A project entry that would loosen the mesh's setting — a lower severity, a later date for
becoming an error, a parameter moved the lenient way, an exception — is refused when the
policies load, unless mesh.yml marks the rule `overridable: true`. An exception written
beside a model (`meta: {meshkit: {exceptions: [{rule, reason, expires}]}}`) is the project's
word too: it counts for overridable rules only, and is otherwise noted on the finding. Rules a project defines
itself (its custom_rules) are its own to configure, and apply to its resources only.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import msgspec

from meshkit.config.policy import (
    MESH,
    Policy,
    PolicyException,
    RulePolicy,
    Scope,
    mesh_policy,
    project_policy,
)
from meshkit.errors import MeshError, close_matches
from meshkit.govern.registry import Rule, RuleSet, builtin_rules, load_rule_file
from meshkit.govern.scope import CompiledScope, check_exception_nodes, matches_name
from meshkit.govern.view import Model, Resource, SourceTable
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.status import Severity


@dataclass(frozen=True)
class Setting:
    severity: Severity
    error_after: date | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def level(self, today: date) -> Severity:
        if self.error_after is not None and self.severity != Severity.OFF and today >= self.error_after:
            return Severity.ERROR
        return self.severity

    def note(self, today: date) -> str:
        if self.error_after is not None and today < self.error_after and self.severity != Severity.OFF:
            return f"becomes an error on {self.error_after}"
        return ""

    def error_from(self) -> date | None:
        """The first day this setting is an error (date.min: always; None: never)."""
        if self.severity == Severity.ERROR:
            return date.min
        return self.error_after if self.severity != Severity.OFF else None


@dataclass(frozen=True)
class _Layer:
    entry: RulePolicy
    scope: CompiledScope | None
    is_mesh: bool


@dataclass
class PolicySet:
    rules: RuleSet
    mesh: Policy
    projects: dict[str, Policy] = field(default_factory=dict)
    local_rules: dict[str, str] = field(default_factory=dict)   # rule id → the project defining it
    _cache: dict[tuple[str, str | None], Setting | None] = field(default_factory=dict, repr=False)
    mesh_projects: frozenset[str] | None = None
    _graph: MeshGraph | None = field(default=None, repr=False)   # what scopes select in: bind()

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, mesh_doc: Any = None, mesh_file: Path | None = None,
             project_dirs: dict[str, Path] | None = None) -> PolicySet:
        """Read mesh.yml's governance section and each project's governance.yml, then validate."""
        mesh = mesh_policy(mesh_doc, mesh_file) if mesh_file is not None else Policy(MESH)
        root = mesh_file.parent if mesh_file is not None else None
        projects = {}
        for name, directory in (project_dirs or {}).items():
            found = project_policy(name, directory, root)   # custom rules confined to the mesh
            if found is not None:
                projects[name] = found
        return cls.from_policies(mesh, projects, frozenset(project_dirs or {}))

    @classmethod
    def from_policies(cls, mesh: Policy, projects: dict[str, Policy] | None = None,
                      mesh_projects: frozenset[str] | None = None) -> PolicySet:
        """mesh_projects: the projects mesh.yml lists, which a selector may name (`finance:x`);
        None when checking bare manifests (scopes are then checked against the graph)."""
        projects = projects or {}
        rules = builtin_rules()
        extra: list[Rule] = []
        for path in mesh.custom_rules:
            extra.extend(load_rule_file(path))
        local: dict[str, str] = {}
        for name, policy in projects.items():
            for path in policy.custom_rules:
                for item in load_rule_file(path):
                    extra.append(item)
                    local[item.id] = name
        policies = cls(rules.with_rules(extra), mesh, projects, local, mesh_projects=mesh_projects)
        policies.validate()
        return policies

    # -- validation ------------------------------------------------------------------------
    def validate(self) -> None:
        converted = {}
        for policy in (self.mesh, *self.projects.values()):
            for rule_id, entry in policy.rules.items():
                rule = self._known_rule(rule_id, entry.file, entry.line)
                if rule_id in self.local_rules and self.local_rules[rule_id] != policy.owner:
                    raise MeshError(f"rule '{rule_id}' belongs to project "
                                    f"'{self.local_rules[rule_id]}'", file=entry.file, line=entry.line,
                                    hint="a project's custom rules apply to that project only")
                if (policy.owner != MESH and rule.applies_to == "mesh" and entry.params
                        and self.local_rules.get(rule_id) != policy.owner):
                    raise MeshError(f"rule '{rule_id}' looks at the whole mesh: its parameters are "
                                    "set in mesh.yml", file=entry.file, line=entry.line)
                if entry.scope is not None:
                    try:
                        _check_scope_projects(entry.scope.projects, self.mesh_projects)
                        self._compiled(entry, entry.scope).check_names(self.mesh_projects)
                    except MeshError as exc:
                        raise MeshError(f"rule '{rule_id}': scope: {exc.message}", file=entry.file,
                                        line=entry.line, hint=exc.hint) from None
                converted[(policy.owner, rule_id)] = replace(
                    entry, params=self._convert_params(rule, entry, policy))
            for exception in policy.exceptions:
                for rule_id in exception.rules:
                    if rule_id != "*":          # "*": every rule, for these nodes
                        self._known_rule(rule_id, exception.file, exception.line)
                try:
                    check_exception_nodes(exception.nodes)
                except MeshError as exc:
                    raise MeshError(exc.message, file=exception.file, line=exception.line,
                                    hint=exc.hint) from None
        self.mesh = replace(self.mesh, rules={r: converted[(MESH, r)] for r in self.mesh.rules})
        self.projects = {name: replace(p, rules={r: converted[(name, r)] for r in p.rules})
                         for name, p in self.projects.items()}
        for policy in self.projects.values():
            self._refuse_loosening(policy)

    @property
    def _any_exceptions(self) -> bool:
        return bool(self.mesh.exceptions) or any(p.exceptions for p in self.projects.values())

    def _known_rule(self, rule_id: str, file: Path | None, line: int | None) -> Rule:
        rule = self.rules.get(rule_id)
        if rule is None:
            close = difflib.get_close_matches(rule_id, [r.id for r in self.rules], n=1)
            raise MeshError(f"unknown rule '{rule_id}'", file=file, line=line,
                            hint=f"did you mean '{close[0]}'?" if close else
                            "`meshkit rules` lists every rule")
        return rule

    def _convert_params(self, rule: Rule, entry: RulePolicy, policy: Policy) -> dict[str, Any]:
        result = {}
        for name, value in entry.params.items():
            line = policy.params_lines.get((rule.id, name)) or entry.line
            param = rule.params.get(name)
            if param is None:
                known = ", ".join(rule.params) or "none"
                raise MeshError(f"rule '{rule.id}' has no parameter '{name}'", file=entry.file,
                                line=line, hint=f"its parameters: {known}")
            try:
                result[name] = msgspec.convert(value, param.type, strict=False)
            except (msgspec.ValidationError, TypeError) as exc:
                raise MeshError(f"rule '{rule.id}': parameter '{name}': {exc}", file=entry.file,
                                line=line, hint=f"default: {param.default!r}") from None
        return result

    def _refuse_loosening(self, policy: Policy) -> None:
        for rule_id, entry in policy.rules.items():
            if self._may_override(rule_id, policy.owner):
                continue
            rule = self.rules.get(rule_id)
            assert rule is not None
            floor = self._mesh_setting(rule)
            reason = _loosens(rule, entry, floor)
            if reason:
                raise MeshError(f"rule '{rule_id}': {reason}, but the mesh policy sets the minimum",
                                file=entry.file, line=entry.line,
                                hint="a project may only tighten mesh rules; ask for an exception "
                                     "in mesh.yml, or for the rule to be made overridable")
        for exception in policy.exceptions:
            refused = [r for r in exception.rules if not self._may_override(r, policy.owner)]
            if refused:
                raise MeshError(f"an exception to mesh rule '{refused[0]}' can only be granted in "
                                "mesh.yml", file=exception.file, line=exception.line,
                                hint="projects may grant exceptions to their own custom rules and to "
                                     "rules mesh.yml marks overridable")

    def _may_override(self, rule_id: str, project: str) -> bool:
        if self.local_rules.get(rule_id) == project:
            return True
        entry = self.mesh.rules.get(rule_id)
        return entry is not None and entry.overridable

    def _mesh_setting(self, rule: Rule) -> Setting:
        setting = Setting(rule.severity, None, rule.defaults())
        entry = self.mesh.rules.get(rule.id)
        return _overlay(setting, entry) if entry is not None else setting

    # -- resolution ------------------------------------------------------------------------
    def bind(self, graph: MeshGraph) -> None:
        """Evaluate every scope's selectors over the graph a check reads; a `name:` that is
        neither a selector method nor a project is reported with its file and line."""
        self._graph = graph
        for policy in (self.mesh, *self.projects.values()):
            for rule_id, entry in policy.rules.items():
                if entry.scope is None:
                    continue
                try:
                    self._compiled(entry, entry.scope).bind(graph)
                except MeshError as exc:
                    raise MeshError(f"rule '{rule_id}': scope: {exc.message}", file=entry.file,
                                    line=entry.line, hint=exc.hint) from None

    def _bound_graph(self) -> MeshGraph:
        """The graph scopes select in, set by bind()."""
        if self._graph is None:
            raise RuntimeError("PolicySet.bind(graph) comes before resolving settings")
        return self._graph

    def _compiled(self, entry: RulePolicy, scope: Scope) -> CompiledScope:
        """The entry's scope (`scope`, which it holds) compiled once."""
        cache = self.__dict__.setdefault("_scopes", {})
        if id(entry) not in cache:
            cache[id(entry)] = (entry, CompiledScope.of(scope, self.mesh_projects or ()))
        return cache[id(entry)][1]

    def setting(self, rule: Rule, resource: Resource | None, unique_id: str,
                project: str | None) -> Setting | None:
        """The setting for one resource, or None where the rule does not apply."""
        key = (rule.id, project)
        if key in self._cache:
            return self._cache[key]
        layers = self._layers(rule, project)
        scoped = any(layer.scope is not None for layer in layers)
        result = self._resolve(rule, layers, resource, unique_id, project)
        if not scoped:
            self._cache[key] = result
        return result

    def is_scoped(self, rule: Rule, project: str | None) -> bool:
        """Whether the rule's setting in this project depends on the resource (a scope)."""
        return any(layer.scope is not None for layer in self._layers(rule, project))

    def _scope_of(self, entry: RulePolicy) -> CompiledScope | None:
        return self._compiled(entry, entry.scope) if entry.scope is not None else None

    def _layers(self, rule: Rule, project: str | None) -> list[_Layer]:
        cache = self.__dict__.setdefault("_layer_cache", {})
        key = (rule.id, project)
        if key not in cache:
            layers = []
            mesh_entry = self.mesh.rules.get(rule.id)
            if mesh_entry is not None:
                layers.append(_Layer(mesh_entry, self._scope_of(mesh_entry), True))
            own = self.projects.get(project) if project else None
            if own is not None and rule.id in own.rules:
                layers.append(_Layer(own.rules[rule.id], self._scope_of(own.rules[rule.id]), False))
            cache[key] = layers
        return cache[key]

    def _resolve(self, rule: Rule, layers: list[_Layer], resource: Resource | None,
                 unique_id: str, project: str | None) -> Setting | None:
        owner = self.local_rules.get(rule.id)
        if owner is not None and owner != project:
            return None
        setting: Setting | None = Setting(rule.severity, None, rule.defaults())
        for layer in layers:
            if layer.scope is None or layer.scope.matches(resource, unique_id, project,
                                                          self._bound_graph()):
                setting = _overlay(setting or Setting(Severity.OFF, None, rule.defaults()), layer.entry)
            elif layer.is_mesh:
                setting = None          # the mesh scoped the rule away from this resource
        if setting is None or setting.severity == Severity.OFF:
            return None
        return setting

    def may_apply(self, rule: Rule) -> bool:
        """False when no policy switches the rule on anywhere (so it need not run)."""
        mesh_entry = self.mesh.rules.get(rule.id)
        on_by_mesh = (mesh_entry.severity or rule.severity) if mesh_entry else rule.severity
        if on_by_mesh != Severity.OFF or (mesh_entry is not None and mesh_entry.scope is not None):
            return True
        return any(p.rules[rule.id].severity not in (None, Severity.OFF)
                   for p in self.projects.values() if rule.id in p.rules)

    def mesh_params(self, rule: Rule) -> dict[str, Any]:
        return self._mesh_setting(rule).params

    def exception_for(self, rule_id: str, resource: Resource | None, unique_id: str,
                      project: str | None, today: date) -> tuple[PolicyException | None,
                                                                 PolicyException | None,
                                                                 PolicyException | None]:
        """(a live exception covering this finding, an expired one that would have, one refused).

        Exceptions come from mesh.yml, the project's governance.yml, and the resource's own
        YAML (`meta: {meshkit: {exceptions: [...]}}`). Those two are the project's word, so
        they count only for rules the project may loosen; others are returned as refused.
        """
        live, expired = self._policy_exception(rule_id, resource, unique_id, project, today)
        if live is not None:
            return live, None, None
        for exception in meta_exceptions(resource):
            if rule_id not in exception.rules and "*" not in exception.rules:
                continue
            if project is None or not self._may_override(rule_id, project):
                return None, expired, exception
            if exception.expires is not None and exception.expires < today:
                expired = expired or exception
                continue
            return exception, None, None
        return None, expired, None

    def _policy_exception(self, rule_id: str, resource: Resource | None, unique_id: str,
                          project: str | None, today: date):
        if not self._any_exceptions:
            return None, None
        expired = None
        for policy in (self.mesh, self.projects.get(project) if project else None):
            if policy is None:
                continue
            for exception in policy.exceptions:
                if rule_id not in exception.rules and "*" not in exception.rules:
                    continue
                if not matches_name(exception.nodes, resource, unique_id, project):
                    continue
                if exception.expires is not None and exception.expires < today:
                    expired = expired or exception
                    continue
                return exception, None
        return None, expired


def meta_exceptions(resource: Resource | None) -> list[PolicyException]:
    """Exceptions written beside a model, source or exposure in its YAML `meta`."""
    if resource is None:
        return []
    meta = _meta_of(resource)
    entries = (meta.get("meshkit") or {}).get("exceptions") if isinstance(meta.get("meshkit"), dict) else None
    if not entries:
        return []
    where = getattr(resource, "properties_file", None) or getattr(resource, "path", None)
    found = []
    for entry in entries if isinstance(entries, list) else [entries]:
        rules = entry.get("rule") if isinstance(entry, dict) else None
        reason = str(entry.get("reason") or "").strip() if isinstance(entry, dict) else ""
        if not rules or not reason:
            raise MeshError(f"{resource.label}: each entry of meta.meshkit.exceptions needs a rule "
                            "and a reason", file=where,
                            hint="write `meta: {meshkit: {exceptions: [{rule: ID, reason: WHY, "
                                 "expires: YYYY-MM-DD}]}}`")
        expires = entry.get("expires")
        try:
            expires = date.fromisoformat(str(expires)) if expires else None
        except ValueError:
            raise MeshError(f"{resource.label}: meta.meshkit.exceptions: expires '{expires}' is not "
                            "a date", file=where, hint="write it as YYYY-MM-DD") from None
        found.append(PolicyException(tuple([rules] if isinstance(rules, str) else rules),
                                     (resource.label,), reason, expires,
                                     Path(where) if where else None))
    return found


def _meta_of(resource: Resource | None) -> dict:
    if resource is None:
        return {}
    if isinstance(resource, Model):
        return resource.meta
    if isinstance(resource, SourceTable):
        return resource.source.meta
    return resource.exposure.meta


def _check_scope_projects(patterns: tuple[str, ...], known: frozenset[str] | None) -> None:
    """Each `scope: {projects: […]}` entry (a name or glob) matches a project of the mesh
    (skipped when the projects are not known)."""
    if known is None:
        return
    for pattern in patterns:
        if not any(fnmatchcase(name, pattern) for name in known):
            close = close_matches(pattern, known)
            raise MeshError(f"projects: '{pattern}' is not a project of the mesh",
                            hint=(f"did you mean '{close[0]}'? " if close else "")
                            + f"projects: {', '.join(sorted(known)) or 'none'}")


def _overlay(setting: Setting, entry: RulePolicy) -> Setting:
    severity, error_after = setting.severity, setting.error_after
    if entry.severity is not None:
        severity, error_after = entry.severity, entry.error_after
    return Setting(severity, error_after, {**setting.params, **entry.params})


def _loosens(rule: Rule, entry: RulePolicy, floor: Setting) -> str | None:
    """Why a project entry is more lenient than the mesh's setting, or None."""
    mine = _overlay(floor, entry)
    if Severity(mine.severity) < Severity(floor.severity):
        return f"lowers the severity from {floor.severity} to {mine.severity}"
    floor_error, my_error = floor.error_from(), mine.error_from()
    if floor_error is not None and (my_error is None or my_error > floor_error):
        when = "never" if my_error is None else f"only from {my_error}"
        since = "always" if floor_error == date.min else f"from {floor_error}"
        return f"makes it an error {when} where the mesh makes it one {since}"
    for name, value in entry.params.items():
        direction = rule.stricter.get(name)
        before = floor.params.get(name)
        if value == before:
            continue
        if direction is None:
            return f"changes parameter '{name}', which has no stricter direction"
        if not _is_stricter(direction, value, before):
            return f"moves parameter '{name}' from {before!r} to {value!r}, the lenient way"
    return None


def _is_stricter(direction: str, value: Any, before: Any) -> bool:
    if direction == "lower":
        return value <= before
    if direction == "higher":
        return value >= before
    return set(value) >= set(before)
