"""Building the mesh: plans, dbt invocations, publishing, run history."""
