"""dbt discovers plugins by the `dbt_` module prefix; this module only names meshkit's."""

from meshkit.plugin import MeshkitPlugin

plugins = [MeshkitPlugin]
