"""meshkit: an open-source dbt Mesh for dbt Core."""

__version__ = "0.1.0"
