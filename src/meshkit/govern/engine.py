"""Run the rules over a mesh view under a set of policies, and collect findings."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Iterable

from meshkit.config.policy import PolicyException
from meshkit.errors import MeshError
from meshkit.govern.findings import Finding, Violation
from meshkit.govern.policy import PolicySet, Setting
from meshkit.govern.registry import Rule
from meshkit.govern.scope import Selection
from meshkit.govern.view import MeshView, Model, Resource
from meshkit.graph.selection import Selector
from meshkit.status import Severity

_SQL_CATEGORIES = frozenset({"modeling", "performance"})


@dataclass(frozen=True)
class CheckOptions:
    projects: tuple[str, ...] = ()        # report only findings about these projects
    select: tuple[str, ...] = ()          # ... and about resources these selectors match
    rules: tuple[str, ...] = ()           # run only these rules
    baseline: frozenset[str] | None = None   # fingerprints already known: not reported again


@dataclass
class CheckResult:
    findings: list[Finding]
    rules: list[Rule]
    today: date
    projects: list[str]
    excepted: list[tuple[Finding, PolicyException]] = field(default_factory=list)
    known: int = 0                          # findings hidden because the baseline has them
    unmatched: list[str] = field(default_factory=list)   # warnings: -s terms that match nothing

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def failed(self) -> bool:
        return any(f.severity == Severity.ERROR for f in self.findings)


def check(view: MeshView, policies: PolicySet, options: CheckOptions = CheckOptions()) -> CheckResult:
    """Run the policies' rules over the mesh; the findings, excepted ones apart.

    Raises MeshError for a rule in `options.rules` that no policy knows."""
    unknown = [r for r in options.rules if r not in policies.rules]
    if unknown:
        raise MeshError(f"unknown rule '{unknown[0]}'", hint="`meshkit rules` lists every rule")
    policies.bind(view.graph)
    mesh_projects = view.config.projects if view.config is not None else ()
    run = _Run(view, policies, options, Selection.parse(options.select, mesh_projects))
    ran = []
    for rule in policies.rules:
        if options.rules and rule.id not in options.rules:
            continue
        if not policies.may_apply(rule):
            continue
        ran.append(rule)
        run.rule(rule)
    findings = sorted(run.findings, key=lambda f: (f.project or "", -Severity(f.severity).rank,
                                                   f.rule, f.name, f.key))
    unmatched = Selector(view.graph, projects=frozenset(mesh_projects)).unmatched(options.select) \
        if options.select else []
    return CheckResult(findings, ran, view.today, sorted(view.projects), run.excepted, run.known,
                       unmatched)


class _Run:
    def __init__(self, view: MeshView, policies: PolicySet, options: CheckOptions,
                 selection: Selection) -> None:
        self.view = view
        self.policies = policies
        self.options = options
        self.selection = selection
        self.projects = set(options.projects)
        self.findings: list[Finding] = []
        self.excepted: list[tuple[Finding, PolicyException]] = []
        self.known = 0

    def rule(self, rule: Rule) -> None:
        view = self.view
        if rule.applies_to == "mesh":
            params = self.policies.mesh_params(rule)
            outcome = self._guarded(rule, None, lambda: rule.fn(view, **params))
            for violation in _normalize(outcome, None):
                self.emit(rule, violation, None, None)
            return
        for project, resources in view.by_project(rule.applies_to).items():
            if self.projects and project not in self.projects:
                continue
            if self.policies.is_scoped(rule, project):
                for resource in resources:
                    setting = self.policies.setting(rule, resource, resource.unique_id, project)
                    if setting is not None:
                        self._evaluate(rule, [resource], setting)
                continue
            setting = self.policies.setting(rule, None, "", project)
            if setting is not None:
                self._evaluate(rule, resources, setting)

    def _evaluate(self, rule: Rule, resources: list[Resource], setting: Setting) -> None:
        """The hot loop: one rule over one project's resources under one setting."""
        fn, view, params = rule.fn, self.view, setting.params
        for resource in resources:
            outcome = self._guarded(rule, resource, lambda r=resource: fn(r, view, **params)) \
                if rule.origin != "builtin" else fn(resource, view, **params)
            if outcome is None:
                continue
            if not isinstance(outcome, (str, Violation)):
                outcome = list(outcome)
                if not outcome:
                    continue
            for violation in _normalize(outcome, resource.unique_id):
                self.emit(rule, violation, setting, resource.unique_id)

    def _guarded(self, rule: Rule, resource: Resource | None, call) -> Any:
        """Run a rule; a custom rule's crash becomes one clear error naming its file and line."""
        try:
            result = call()
            if result is None or isinstance(result, (str, Violation)):
                return result
            return list(result)         # a generator runs here, inside the try
        except MeshError:
            raise
        except Exception as exc:
            if rule.origin == "builtin":
                raise                   # meshkit's own bug: a traceback, behind --debug
            where = f" on {resource.label}" if resource is not None else ""
            raise MeshError(f"custom rule '{rule.id}' failed{where}: {type(exc).__name__}: {exc}",
                            file=rule.origin, line=_line_in(exc, rule.origin)) from None

    def emit(self, rule: Rule, violation: Violation, setting: Setting | None,
             evaluated: str | None) -> None:
        """Turn a violation into a finding under the subject's policy (or drop it)."""
        view = self.view
        subject = violation.subject or ""
        resource = view.resource(subject)
        project = resource.project if resource is not None else view.project_of(subject)
        if self.projects and project not in self.projects:
            return
        if self.selection and not self.selection.matches(resource, subject, project, view.graph):
            return
        if setting is None or subject != evaluated:
            setting = self.policies.setting(rule, resource, subject, project)
            if setting is None:
                return
        severity = setting.level(view.today)
        if severity == Severity.OFF:
            return
        finding = Finding(rule=rule.id, category=rule.category, severity=severity, subject=subject,
                          project=project, name=view.label(subject) if resource is None
                          else resource.label, message=violation.message, key=violation.key,
                          file=violation.file or file_of(view, resource, rule.category),
                          line=violation.line, note=setting.note(view.today))
        exception, expired, refused = self.policies.exception_for(rule.id, resource, subject,
                                                                  project, view.today)
        if exception is not None:
            self.excepted.append((finding, exception))
            return
        if expired is not None:
            finding.note = _join(finding.note, f"exception expired on {expired.expires}")
        if refused is not None:
            finding.note = _join(finding.note, "its meta exception does not count: exceptions to "
                                               "mesh rules are granted in mesh.yml")
        if self.options.baseline is not None and finding.fingerprint in self.options.baseline:
            self.known += 1
            return
        self.findings.append(finding)


def _normalize(outcome: Any, default_subject: str | None) -> Iterable[Violation]:
    if outcome is None:
        return ()
    items = [outcome] if isinstance(outcome, (str, Violation)) else outcome
    result = []
    for item in items:
        if isinstance(item, str):
            item = Violation(item)
        if item.subject is None:
            if default_subject is None:
                raise MeshError("a mesh rule must name the subject of each Violation")
            item = replace(item, subject=default_subject)
        result.append(item)
    return result


def file_of(view: MeshView, resource: Resource | None, category: str) -> str | None:
    """The file a finding points at: a model's YAML (its SQL for modeling rules)."""
    if resource is None:
        return None
    path = resource.path
    if isinstance(resource, Model) and category not in _SQL_CATEGORIES:
        path = resource.properties_file or path
    if not path:
        return None
    prefix = view.folder_prefix(resource.project)
    return f"{prefix}{path}" if prefix else path


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _line_in(exc: BaseException, origin: str) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == Path(origin):
            line = frame.lineno
    return line
