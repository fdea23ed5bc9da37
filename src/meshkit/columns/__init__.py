"""Column-level lineage: which upstream columns each model column is computed from, and how.

Computed from dbt's compiled SQL with sqlglot (`trace`), against the columns each relation is
known to have (`relations`), one project at a time (`project`), in the shapes of `lineage`.
It reads dbt's artifacts as plain data and imports nothing else of meshkit's, so the store can
compute it at publish time and the graph can join projects' lineage across the mesh.
"""
