"""Which environment of a producer a consumer's cross-project refs read (dbt Cloud's rule).

A consumer in a production environment reads producers' production artifacts. A consumer in
staging or development reads the producer's staging environment if the producer has one
(without falling back to production, as dbt Cloud does), else production. An environment's
`upstream_environment` in mesh.yml overrides the rule.
"""

from __future__ import annotations

from meshkit.config import Environment, Mesh
from meshkit.store.store import Store


def producer_environment(mesh: Mesh, consumer_env: Environment, producer: str,
                         store: Store | None = None) -> str:
    if consumer_env.upstream_environment:
        return consumer_env.upstream_environment
    production = mesh.production_environment().name
    if consumer_env.type == "production":
        return production
    staging = [e for e in _producer_environments(mesh, producer, store)
               if e in mesh.environments and mesh.environments[e].type == "staging"]
    return staging[0] if staging else production


def _producer_environments(mesh: Mesh, producer: str, store: Store | None) -> list[str]:
    """A mesh project's declared environments; for a hybrid project, what it has published."""
    if producer in mesh.projects:
        return list(mesh.projects[producer].environments)
    return store.environments(producer) if store else []
