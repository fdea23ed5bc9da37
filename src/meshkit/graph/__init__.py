"""The mesh graph: projects and models of every project, their edges, selection, cycles."""
