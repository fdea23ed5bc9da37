"""Everything meshkit knows about dbt: fast artifact decoding and running dbt.

Only `meshkit.dbt.*` and the plugin talk to dbt-core; this package's modules decode dbt's
artifacts with msgspec and start dbt in subprocesses, so importing them stays cheap.
"""
