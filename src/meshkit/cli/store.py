"""`meshkit store ...`: what the artifact store holds (issue: artifact store)."""

from __future__ import annotations

import click

from meshkit.cli import main


@main.group()
def store() -> None:
    """Inspect and maintain the mesh's artifact store."""
