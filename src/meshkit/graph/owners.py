"""Who owns a model: one answer for governance, notifications and the catalog.

The order, first that names someone:

1. the owner of the model's dbt group (`groups:` → `owner: {name, email}`), looked up in the
   model's own package first, as dbt resolves `group:` (dbt/parser/manifest.py);
2. `meta.owner` (config meta wins over the property's meta, as dbt merges them): a string —
   an email when it contains `@`, a name otherwise — or a mapping `{name, email}`, or a list
   of such strings.

A group without a name or email in its owner still counts as the model's group, and the
owner comes from `meta.owner` then. Exposures have their own `owner:`; it is used as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshkit.dbt.artifacts import Group, Owner as DbtOwner


@dataclass(frozen=True)
class Owner:
    name: str | None
    emails: tuple[str, ...] = ()
    group: str | None = None          # the dbt group the model belongs to, if any
    source: str = "group"             # "group", "meta" or "exposure": where the owner came from
    group_description: str | None = None

    @property
    def label(self) -> str:
        """How a person is named in one line: the name, else the emails."""
        return self.name or ", ".join(self.emails)

    @property
    def named(self) -> bool:
        """Whether someone is named (a group with an empty owner names no one)."""
        return bool(self.name or self.emails)

    @property
    def email(self) -> str | None:
        return ", ".join(self.emails) or None


def _emails(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or [])
    return tuple(str(e).strip() for e in items if e and str(e).strip())


def group_of(graph, node) -> Group | None:
    """The dbt group a node belongs to (its package's group of that name, else any)."""
    name = getattr(node, "group", None) or getattr(getattr(node, "config", None), "group", None)
    if not name:
        return None
    found = graph.groups.get(f"group.{node.package_name}.{name}")
    if found is None:
        found = next((g for g in graph.groups.values() if g.name == name), None)
    return found


def _from_meta(value: Any) -> tuple[str | None, tuple[str, ...]] | None:
    if isinstance(value, dict):
        name = value.get("name")
        emails = _emails(value.get("email"))
        return (str(name) if name else None, emails) if name or emails else None
    if isinstance(value, (list, tuple)):
        texts = [str(v).strip() for v in value if v and str(v).strip()]
        if not texts:
            return None
        emails = tuple(t for t in texts if "@" in t)
        names = [t for t in texts if "@" not in t]
        return (", ".join(names) or None, emails)
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    return (None, (text,)) if "@" in text else (text, ())


def owner_of_node(graph, node) -> Owner | None:
    """The owner of a model, seed or snapshot (see the module's order), or None."""
    group = group_of(graph, node)
    group_name = group.name if group is not None else (
        getattr(node, "group", None) or getattr(getattr(node, "config", None), "group", None))
    description = group.description if group is not None else None
    if group is not None:
        emails = _emails(group.owner.email)
        if group.owner.name or emails:
            return Owner(group.owner.name, emails, group.name, "group", description)
    config = getattr(node, "config", None)
    meta = {**(getattr(node, "meta", None) or {}), **(getattr(config, "meta", None) or {})}
    found = _from_meta(meta.get("owner"))
    if found is not None:
        return Owner(found[0], found[1], group_name, "meta", description)
    if group_name:
        return Owner(None, (), group_name, "group", description)   # a group with no owner named
    return None


def owner_of(graph, unique_id: str) -> Owner | None:
    """The owner of any node of the graph by id: models (see above) and exposures."""
    node = graph.nodes.get(unique_id)
    if node is not None:
        return owner_of_node(graph, node)
    exposure = graph.exposures.get(unique_id)
    if exposure is not None:
        return exposure_owner(exposure.owner)
    return None


def exposure_owner(owner: DbtOwner) -> Owner | None:
    emails = _emails(owner.email)
    return Owner(owner.name, emails, None, "exposure") if owner.name or emails else None
