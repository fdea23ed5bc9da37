"""The built-in rules. Importing this package registers every one of them."""

from meshkit.govern.rules import (interfaces, ownership, privacy, recommendations,  # noqa: F401
                                  references, sources, structure, versions)
