"""The built-in rules. Importing this package registers every one of them, in this order."""

from meshkit.govern.rules import (
    interfaces,  # noqa: F401
    ownership,  # noqa: F401
    packages,  # noqa: F401
    privacy,  # noqa: F401
    recommendations,  # noqa: F401  (dbt Explorer's twelve)
    references,  # noqa: F401
    sources,  # noqa: F401
    structure,  # noqa: F401
    versions,  # noqa: F401
)
