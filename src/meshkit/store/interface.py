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


def access_of(node: Node) -> str:
    return node.access or node.config.access or "protected"


def version_text(value: object) -> str | None:
    """dbt's `v=1`, `v='1'` and YAML `1` must all meet as the same string."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


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
    restricted = sorted({(n.name, access_of(n), n.group or n.config.group)
                         for uid, n in models.items() if uid not in public})
    return Interface(project=project, dbt_version=manifest.metadata.dbt_version, models=exported,
                     restricted=[RestrictedModel(*r) for r in restricted])


def _public_model(node: Node, depends_on: list[str], columns: list[str]) -> PublicModel:
    return PublicModel(
        name=node.name, unique_id=node.unique_id, schema_=node.schema_ or "",
        identifier=node.alias or node.name, database=node.database,
        relation_name=node.relation_name, version=version_text(node.version),
        latest_version=version_text(node.latest_version), deprecation_date=node.deprecation_date,
        group=node.group or node.config.group, contract_enforced=node.config.contract.enforced,
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


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Interface)


def encode_interface(interface: Interface) -> bytes:
    return _encoder.encode(interface)


def decode_interface(data: bytes) -> Interface:
    return _decoder.decode(data)
