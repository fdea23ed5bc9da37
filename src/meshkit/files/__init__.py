"""Files meshkit writes into a user's projects, below split/ and scaffold/ which both write them.

- yamltext: YAML read and written back with its comments, order and style kept;
- yamlcomments: a comment stays where it was when a mapping or list grows at its end;
- staged: a new folder written completely or not at all.
"""
