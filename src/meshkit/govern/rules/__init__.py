"""The built-in rules. Importing this package registers every one of them, in this order."""

from meshkit.govern.rules import recommendations  # noqa: F401  (dbt Explorer's twelve)
from meshkit.govern.rules import interfaces  # noqa: F401
from meshkit.govern.rules import ownership  # noqa: F401
from meshkit.govern.rules import references  # noqa: F401
from meshkit.govern.rules import versions  # noqa: F401
from meshkit.govern.rules import sources  # noqa: F401
from meshkit.govern.rules import privacy  # noqa: F401
from meshkit.govern.rules import structure  # noqa: F401
from meshkit.govern.rules import packages  # noqa: F401
