"""Which environment of a producer a consumer's cross-project refs read (dbt Cloud's rule).

| consumer environment | producer has a staging environment | reads the producer's |
|----------------------|------------------------------------|----------------------|
| production           | either                             | production           |
| staging              | yes                                | staging              |
| development          | yes                                | staging              |
| staging/development  | no                                 | production           |

"Has one" means declared: like dbt Cloud, a producer's staging environment is used as soon as
it exists, even before it has published, without failing over to production (the consumer is
told to publish it). A mesh project has the environments its mesh.yml entry lists (every
environment by default); a hybrid project, built outside the mesh, has the environments it has
published to. An environment's `upstream_environment` in mesh.yml overrides the rule.
"""

from __future__ import annotations

from meshkit.config import Environment, Mesh
from meshkit.store.store import Store


def producer_environment(mesh: Mesh, consumer_env: Environment, producer: str,
                         store: Store | None = None) -> str:
    """The environment of `producer` that a consumer building in `consumer_env` reads (the
    table above); `store` tells which environments a hybrid producer has published to."""
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
    return store.published_environments(producer) if store else []
