"""dbt's `--vars`: project variables given on the command line, for every dbt a build starts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from meshkit.errors import MeshError

_HINT = "give a YAML or JSON mapping, as dbt's --vars takes it: --vars '{load_source_data: true}'"


@dataclass(frozen=True)
class DbtVars:
    """`--vars` as the user wrote it (`text`, passed to dbt unchanged) and as dbt reads it
    (`values`). Empty: no `--vars` at all."""

    text: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> DbtVars:
        """Read `--vars` text as dbt does (PyYAML's safe loader; dbt/config/utils.py
        parse_cli_vars: a mapping, or nothing). Raises MeshError for anything else."""
        if text is None or not text.strip():
            return cls()
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (column {mark.column + 1})" if mark is not None and mark.line == 0 else ""
            problem = getattr(exc, "problem", None) or "not YAML"
            raise MeshError(f"--vars cannot be read: {problem}{where}", hint=_HINT) from None
        if values is None:
            return cls()
        if not isinstance(values, dict):
            raise MeshError(f"--vars must be a mapping of variable names to values, "
                            f"not a {type(values).__name__}", hint=_HINT)
        return cls(text, values)

    @property
    def args(self) -> list[str]:
        """The dbt arguments that pass the variables on ([] when there are none)."""
        return ["--vars", self.text] if self.values else []

    @property
    def key(self) -> str:
        """The variables in a canonical form, for cache keys ("" when there are none): the
        same mapping written differently is the same key."""
        return json.dumps(self.values, sort_keys=True, default=str) if self.values else ""


NO_VARS = DbtVars()    # no --vars: the default of functions that pass them on
