"""A project's public interface: what other projects may ref, derived once at publish time.

The interface is the small, stable part of a manifest that consumers need: public models
(every version) with their relations, plus the names of non-public models so that a refused
ref can say why. It is stored beside the run's artifacts, so the dbt plugin never decodes a
producer's full manifest.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from meshkit.dbt.artifacts import Manifest, Node
from meshkit.dbt.dag import parents_first
from meshkit.dbt.nodes import access_of, group_of, version_text


class PublicModel(msgspec.Struct, frozen=True):
    name: str
    unique_id: str
    schema_: str = msgspec.field(name="schema")
    identifier: str
    database: str | None = None
    relation_name: str | None = None
    version: str | None = None
    latest_version: str | None = None
    deprecation_date: str | None = None
    group: str | None = None
    contract_enforced: bool = False
    # Public ancestors in the same project, transitively: lets dbt see the producer's
    # internal ordering of public models without exposing anything private.
    depends_on: list[str] = msgspec.field(default_factory=list)
    # config.event_time: consumers' microbatch models (and --sample) filter this model by it.
    event_time: str | None = None
    # All of the model's columns, where known (warehouse, enforced contract or traced SQL):
    # lets a consumer's column lineage expand `select *` over a cross-project ref.
    columns: list[str] = msgspec.field(default_factory=list)
    # False when no published run has built this relation yet (a publish after `dbt parse`,
    # or a build that left the model out): its relation may not exist in the warehouse.
    built: bool = True


class RestrictedModel(msgspec.Struct, frozen=True):
    name: str
    access: str
    group: str | None = None


class Interface(msgspec.Struct):
    project: str
    dbt_version: str
    models: list[PublicModel]
    restricted: list[RestrictedModel]

    def public_names(self) -> set[str]:
        return {m.name for m in self.models}

    def restricted_by_name(self) -> dict[str, RestrictedModel]:
        return {m.name: m for m in self.restricted}


def extract_interface(manifest: Manifest, project: str,
                      columns: Mapping[str, list[str]] | None = None) -> Interface:
    """The project's public models (with `columns`, by unique id, where known) and the names
    of the others."""
    columns = columns or {}
    models = {uid: n for uid, n in manifest.nodes.items()
              if n.resource_type == "model" and n.package_name == project and n.config.enabled}
    public = {uid for uid, n in models.items() if access_of(n) == "public"}
    ancestors = _public_ancestors(models, public)
    exported = [_public_model(models[uid], sorted(ancestors[uid]), columns.get(uid, []))
                for uid in sorted(public)]
    restricted = sorted({(n.name, access_of(n), group_of(n))
                         for uid, n in models.items() if uid not in public})
    return Interface(project=project, dbt_version=manifest.metadata.dbt_version, models=exported,
                     restricted=[RestrictedModel(*r) for r in restricted])


def _public_model(node: Node, depends_on: list[str], columns: list[str]) -> PublicModel:
    return PublicModel(
        name=node.name, unique_id=node.unique_id, schema_=node.schema_ or "",
        identifier=node.alias or node.name, database=node.database,
        relation_name=node.relation_name, version=version_text(node.version),
        latest_version=version_text(node.latest_version), deprecation_date=node.deprecation_date,
        group=group_of(node), contract_enforced=node.config.contract.enforced,
        depends_on=depends_on, event_time=node.config.event_time, columns=columns)


def _public_ancestors(models: dict[str, Node], public: set[str]) -> dict[str, set[str]]:
    """For each public model, the public models of its project it depends on, transitively."""
    memo: dict[str, frozenset[str]] = {}
    for uid in parents_first(models):
        found: set[str] = set()
        for parent in models[uid].depends_on.nodes:
            if parent in memo:
                found |= memo[parent]
                if parent in public:
                    found.add(parent)
        memo[uid] = frozenset(found)
    return {uid: set(memo.get(uid, ())) for uid in public}


def mark_built(interface: Interface, built: set[str], previous: Interface | None) -> Interface:
    """The interface with `built` set on each public model: built by this run (`built`: unique
    ids it ran successfully), or by an earlier published run of the same relation."""
    before = {m.unique_id: m for m in previous.models} if previous else {}

    def was_built(model: PublicModel) -> bool:
        if model.unique_id in built:
            return True
        old = before.get(model.unique_id)
        return old is not None and old.built and old.relation_name == model.relation_name

    return msgspec.structs.replace(interface, models=[
        msgspec.structs.replace(m, built=was_built(m)) for m in interface.models])


# What a consumer's compile reads of a public model. `built` is the run's, not the code's;
# `columns` are known only after a build (warehouse or traced SQL), never from a parse, and a
# change to them is a change to the model's own code or YAML, which state already sees.
_COMPARED = [f for f in PublicModel.__struct_fields__ if f not in ("built", "columns")]


def interface_changes(published: Interface | None, current: Interface,
                      ids_by_name: dict[str, list[str]]) -> dict[str, str]:
    """unique_id → what differs between a published interface and the code's, e.g.
    `latest_version 1 → 2`, for every model whose published entry is out of date: public
    models whose fields changed, models that became or stopped being public, and restricted
    models whose access or group changed (`ids_by_name`: model name → its unique ids).
    Empty when never published (every model is then never built anyway)."""
    if published is None:
        return {}
    old = {m.unique_id: m for m in published.models}
    new = {m.unique_id: m for m in current.models}
    changes: dict[str, str] = {}
    for uid, model in new.items():
        if uid not in old:
            changes[uid] = "became public"
            continue
        diffs = [f"{_shown(f)} {_value(getattr(old[uid], f))} → {_value(getattr(model, f))}"
                 for f in _COMPARED if getattr(old[uid], f) != getattr(model, f)]
        if diffs:
            changes[uid] = ", ".join(diffs)
    restricted_old = {r.name: r for r in published.restricted}
    for r in current.restricted:
        before = restricted_old.get(r.name)
        if before is not None and before != r:
            diffs = [f"{f} {_value(getattr(before, f))} → {_value(getattr(r, f))}"
                     for f in ("access", "group") if getattr(before, f) != getattr(r, f)]
            for uid in ids_by_name.get(r.name, []):
                changes.setdefault(uid, ", ".join(diffs))
    for uid, model in old.items():
        if uid not in new:
            if uid in ids_by_name.get(model.name, ()):
                changes.setdefault(uid, "no longer public")
    return changes


def _shown(field: str) -> str:
    return {"schema_": "schema", "contract_enforced": "contract enforced"}.get(field, field)


def _value(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Interface)


def encode_interface(interface: Interface) -> bytes:
    """interface.json's bytes."""
    return _encoder.encode(interface)


def decode_interface(data: bytes) -> Interface:
    """An interface.json; raises msgspec.DecodeError or ValidationError when it is damaged."""
    return _decoder.decode(data)
