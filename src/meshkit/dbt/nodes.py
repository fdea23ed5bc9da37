"""Facts about one dbt node, read as dbt reads them: access, group, owner, meta, versions,
labels, and the ISO times dbt writes into its artifacts.

Plain functions over the msgspec structs of `meshkit.dbt.artifacts`; no dbt-core import, so
every package (store, graph, govern, catalog, split, orchestrate, web, dagster) asks here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from meshkit.dbt.artifacts import Group, Node
from meshkit.dbt.artifacts import Owner as DbtOwner

# dbt/artifacts/resources/types.py (AccessType); a model without `access:` is protected
# (dbt/artifacts/resources/v1/model.py, `ModelNode.access = AccessType.Protected`).
DEFAULT_ACCESS = "protected"
LATEST = "latest"   # the `version:` selector value, and how a ref without `v=` resolves


# -- access, group, meta -------------------------------------------------------------------
def access_of(node: Node) -> str:
    """'private', 'protected' or 'public' (DEFAULT_ACCESS when unset).

    dbt copies `config.access` onto the node at parse (dbt/parser/base.py,
    `update_parsed_node_config`); a manifest that carries only one of the two still reads right."""
    return node.access or node.config.access or DEFAULT_ACCESS


def group_of(node: Any) -> str | None:
    """The name of the node's dbt group, or None. dbt copies `config.group` onto the node
    (dbt/parser/base.py, `update_parsed_node_config`); either place counts. Any node kind."""
    config = getattr(node, "config", None)
    return getattr(node, "group", None) or getattr(config, "group", None) or None


def meta_of(node: Any) -> dict[str, Any]:
    """The node's `meta`, `config.meta` keys winning over the property's `meta`, as dbt merges
    them (dbt/parser/base.py, `update_parsed_node_config`: config meta replaces the node's; columns:
    dbt/parser/common.py, `{**column.meta, **column_config_meta}`). A new dict."""
    config = getattr(node, "config", None)
    return {**(getattr(node, "meta", None) or {}), **(getattr(config, "meta", None) or {})}


# -- versions and labels -------------------------------------------------------------------
def version_text(value: object) -> str | None:
    """A model version as text, so dbt's `v=1`, `v='1'`, YAML `1` and JSON `1.0` all meet as
    '1'; None for no version (None or '')."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def version_key(value: object) -> tuple[int, float, str]:
    """A sort key for versions: none first, then numbers in numeric order, then other texts in
    text order. Between two numeric or two textual versions this is dbt's order
    (dbt/contracts/graph/unparsed.py, `UnparsedVersion.__lt__`: float if both parse, else str)."""
    text = version_text(value)
    if text is None:
        return (0, 0.0, "")
    try:
        return (1, float(text), "")
    except ValueError:
        return (2, 0.0, text)


def is_latest(node: Node) -> bool:
    """True for the latest version of a versioned model (dbt/contracts/graph/nodes.py,
    `is_latest_version`), compared as version text."""
    return node.version is not None and version_text(node.version) == version_text(node.latest_version)


def label(name: str, version: object = None) -> str:
    """`fct_orders.v2` for a version, `fct_orders` without: dbt's `search_name`
    (dbt/contracts/graph/nodes.py) and how people write a versioned model."""
    text = version_text(version)
    return f"{name}.v{text}" if text is not None else name


# -- owners ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Owner:
    """Who answers for a node.

    The order, first that names someone:

    1. the owner of the node's dbt group (`groups:` → `owner: {name, email}`), looked up in the
       node's own package first, as dbt resolves `group:` (dbt/parser/manifest.py);
    2. `meta.owner` (see `meta_of`): a string — an email when it contains `@`, a name
       otherwise — or a mapping `{name, email}`, or a list of such strings.

    A group with an empty owner still counts as the node's group, and the owner comes from
    `meta.owner` then. Exposures have their own `owner:`; it is used as is."""

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


def find_group(node: Any, groups: Mapping[str, Group]) -> Group | None:
    """The node's dbt group among `groups` (by unique id): its own package's group of that
    name, else any group of that name; None without a group."""
    name = group_of(node)
    if not name:
        return None
    found = groups.get(f"group.{node.package_name}.{name}")
    if found is None:
        found = next((g for g in groups.values() if g.name == name), None)
    return found


def owner_of(node: Any, groups: Mapping[str, Group]) -> Owner | None:
    """The owner of a model, seed or snapshot (see `Owner` for the order), or None."""
    group = find_group(node, groups)
    group_name = group.name if group is not None else group_of(node)
    description = group.description if group is not None else None
    if group is not None:
        emails = _emails(group.owner.email)
        if group.owner.name or emails:
            return Owner(group.owner.name, emails, group.name, "group", description)
    found = _owner_from_meta(meta_of(node).get("owner"))
    if found is not None:
        return Owner(found[0], found[1], group_name, "meta", description)
    if group_name:
        return Owner(None, (), group_name, "group", description)   # a group with no owner named
    return None


def exposure_owner(owner: DbtOwner) -> Owner | None:
    """An exposure's `owner:` as an Owner, or None when it names no one."""
    emails = _emails(owner.email)
    return Owner(owner.name, emails, None, "exposure") if owner.name or emails else None


def _emails(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or [])
    return tuple(str(e).strip() for e in items if e and str(e).strip())


def _owner_from_meta(value: Any) -> tuple[str | None, tuple[str, ...]] | None:
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


# -- times ---------------------------------------------------------------------------------
def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as dbt writes them (`generated_at`, `max_loaded_at`, timing
    `completed_at`: `2026-11-23T09:28:53.505427Z`; a `deprecation_date`, which may be a bare
    date) as an aware UTC datetime; a naive time is taken as UTC. A datetime passes through
    (made aware), a date becomes its UTC midnight. None for None, '' or text that is no time."""
    moment: datetime | None
    if value is None or value == "":
        moment = None
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        moment = _from_iso(str(value).strip())
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None \
        else moment.astimezone(timezone.utc)


def parse_date(value: object) -> date | None:
    """`parse_time`'s UTC calendar date (a date passes through); None where it gives None."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    moment = parse_time(value)
    return moment.date() if moment is not None else None


def _from_iso(text: str) -> datetime | None:
    text = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:   # more digits of a second than Python reads, or a trailing note: the day still counts
        return datetime.fromisoformat(text[:10])
    except ValueError:
        return None
