"""Rules and the decorator that declares them.

A rule is a small function. Its id is the function's name, its description the first line
of its docstring; `category` and `severity` come from the decorator:

    from meshkit.govern import rule

    @rule(category="documentation", severity="warn")
    def model_has_example(model, mesh, marker: str = "```sql"):
        \"\"\"The model's description shows an example query.\"\"\"
        if marker not in model.description:
            return "description has no example query"

`applies_to` picks what the rule is called with: "model" (default), "source", "exposure"
— the function gets that resource and the MeshView — or "mesh", where it gets the MeshView
only and yields Violations naming their subject. A resource rule returns None (compliant),
a message, or an iterable of messages/Violations. Keyword parameters with defaults are the
rule's parameters; policies may set them, validated against the annotation (bounds with
`Annotated[int, msgspec.Meta(ge=1)]`). `stricter` says, per parameter, which direction
tightens it ("lower", "higher", "superset"), so a project may move it that way on its own.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib.util
import inspect
import sys
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshkit.errors import MeshError
from meshkit.status import Severity

APPLIES_TO = ("model", "source", "exposure", "mesh")
DIRECTIONS = ("lower", "higher", "superset")


@dataclass(frozen=True, eq=False)
class Param:
    name: str
    default: Any
    type: Any


@dataclass(frozen=True, eq=False)
class Rule:
    id: str
    description: str
    category: str
    severity: Severity
    applies_to: str
    fn: Callable[..., Any]
    params: dict[str, Param] = field(default_factory=dict)
    stricter: dict[str, str] = field(default_factory=dict)
    origin: str = "builtin"          # "builtin", or the file that defined it

    def defaults(self) -> dict[str, Any]:
        return {name: param.default for name, param in self.params.items()}


class RuleSet:
    """Rules by id, in the order they were declared."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        for item in rules:
            self.add(item)

    def add(self, item: Rule) -> None:
        existing = self._rules.get(item.id)
        if existing is not None and existing.fn is not item.fn:
            raise MeshError(f"two rules are named '{item.id}' ({existing.origin} and {item.origin})",
                            file=None if item.origin == "builtin" else item.origin,
                            hint="rename one of the functions: a rule's id is its function name")
        self._rules[item.id] = item

    def get(self, rule_id: str) -> Rule | None:
        return self._rules.get(rule_id)

    def __contains__(self, rule_id: str) -> bool:
        return rule_id in self._rules

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def with_rules(self, extra: list[Rule]) -> RuleSet:
        return RuleSet([*self, *extra])


BUILTIN = RuleSet()
_collecting: contextvars.ContextVar[list[Rule] | None] = contextvars.ContextVar("_collecting",
                                                                               default=None)


def rule(fn: Callable | None = None, *, category: str = "custom", severity: str = Severity.WARN,
         applies_to: str = "model", stricter: dict[str, str] | None = None,
         description: str | None = None) -> Any:
    """Declare a rule (see the module docstring). Usable bare (`@rule`) or with arguments."""
    if severity not in list(Severity):
        raise ValueError(f"severity must be one of {', '.join(Severity)}, not {severity!r}")
    if applies_to not in APPLIES_TO:
        raise ValueError(f"applies_to must be one of {', '.join(APPLIES_TO)}, not {applies_to!r}")

    def declare(function: Callable) -> Callable:
        params = _params(function, applies_to)
        for name, direction in (stricter or {}).items():
            if name not in params or direction not in DIRECTIONS:
                raise ValueError(f"rule {function.__name__}: stricter[{name!r}] must name a "
                                 f"parameter and one of {', '.join(DIRECTIONS)}")
        doc = (inspect.getdoc(function) or "").strip()
        text = description or (doc.splitlines()[0] if doc else function.__name__.replace("_", " "))
        item = Rule(id=function.__name__, description=text, category=category, severity=Severity(severity), applies_to=applies_to, fn=function,
                    params=params, stricter=dict(stricter or {}),
                    origin=_origin_of(function))
        target = _collecting.get()
        if target is not None:
            target.append(item)
        else:
            BUILTIN.add(item)
        function.rule = item  # type: ignore[attr-defined]  # the rule, found from its function
        return function

    return declare(fn) if fn is not None else declare


def _params(function: Callable, applies_to: str) -> dict[str, Param]:
    signature = inspect.signature(function)
    positional = 1 if applies_to == "mesh" else 2
    try:
        hints = typing.get_type_hints(function, include_extras=True)   # keeps msgspec.Meta bounds
    except Exception:  # a custom rule's annotations may name types we cannot resolve
        hints = {}
    params = {}
    for index, (name, parameter) in enumerate(signature.parameters.items()):
        if index < positional:
            continue
        if parameter.default is inspect.Parameter.empty:
            raise ValueError(f"rule {function.__name__}: parameter '{name}' needs a default")
        params[name] = Param(name, parameter.default,
                             hints.get(name, type(parameter.default)))
    return params


def _origin_of(function: Callable) -> str:
    module = sys.modules.get(function.__module__)
    path = getattr(module, "__file__", None) if module else None
    if function.__module__.startswith("meshkit.govern.rules"):
        return "builtin"
    return str(path or function.__module__)


@contextlib.contextmanager
def _collect() -> Iterator[list[Rule]]:
    found: list[Rule] = []
    token = _collecting.set(found)
    try:
        yield found
    finally:
        _collecting.reset(token)


def load_rule_file(path: Path) -> list[Rule]:
    """Run a Python file of custom rules and return the rules it declared."""
    path = path.resolve()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module_name = f"meshkit_custom_rules_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise MeshError("cannot load custom rules", file=path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    with _collect() as found:
        try:
            spec.loader.exec_module(module)
        except MeshError:
            raise
        except Exception as exc:  # the user's code: show where it broke, not our traceback
            line = _user_line(exc, path)
            raise MeshError(f"custom rules failed to load: {type(exc).__name__}: {exc}",
                            file=path, line=line) from None
    return found


def _user_line(exc: BaseException, path: Path) -> int | None:
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def builtin_rules() -> RuleSet:
    """Every built-in rule (importing the rule modules registers them)."""
    import meshkit.govern.rules  # noqa: F401  (registers on import)

    return BUILTIN
