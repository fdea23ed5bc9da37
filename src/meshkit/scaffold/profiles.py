"""A dbt profile for a new project of a mesh, derived from a profile the mesh already uses.

On DuckDB every project of a mesh writes its own database file (dbt-duckdb holds a file open
for the whole run, so two projects cannot share one) and attaches the files of the projects it
reads, read-only; attached databases are named after the file, so a relation that project
`core` built as "core"."main"."fct_orders" reads the same from every project. A derived profile
keeps everything of the original outputs — targets, threads, settings, extensions, the
attachments of raw data — and changes only the file (and `database`) to the new project's, and
adds the attachments of its upstream projects. Outputs of other adapters are kept as they are:
there the projects share the warehouse, and relation names come from each producer's manifest.
"""

from __future__ import annotations

import copy
import io
import os
import posixpath
import re
from pathlib import Path
from typing import Any, Callable

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from meshkit.errors import MeshError
from meshkit.files.yamlcomments import move_trailing_comment, trailing_holder

# The file name at the end of a DuckDB path, whatever its suffix (`.duckdb`, `.db`, none): a
# name after the last slash, outside Jinja, with no scheme (`md:`, `s3://`).
_DUCKDB_FILE_RE = re.compile(r"(?:^|[/\\}])(?P<stem>[^/\\'\"{}:]+?)(?P<suffix>\.\w+)?(?P<tail>\s*)$")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def read_profiles(path: Path) -> CommentedMap | None:
    """A profiles.yml parsed round-trip (comments kept), None when missing or not a mapping.

    Raises MeshError naming the file when it is not valid YAML."""
    if not path.is_file():
        return None
    try:
        data = _yaml().load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # ruamel raises several unrelated types for bad YAML
        raise MeshError(f"cannot read profiles.yml: {exc}", file=path) from None
    return data if isinstance(data, CommentedMap) else None


def find_profile(project_dir: Path, name: str | None) -> CommentedMap | None:
    """The profile `name` from the first profiles.yml that has it: the project's folder, then
    DBT_PROFILES_DIR, then ~/.dbt. None when no file has it.

    Raises:
        MeshError: a profiles.yml on the way is not YAML.
    """
    if name is None:
        return None
    for folder in (project_dir, os.environ.get("DBT_PROFILES_DIR"), Path.home() / ".dbt"):
        profiles = read_profiles(Path(folder) / "profiles.yml") if folder else None
        profile = profiles.get(name) if profiles is not None else None
        if isinstance(profile, CommentedMap):
            return profile
    return None


def duckdb_stem(path_value: str) -> str | None:
    """`{{ env_var('X', '../warehouse') }}/jaffle.duckdb` → `jaffle`; `./database.db` → `database`.

    None for a path that names no file meshkit can give a sibling: `:memory:`, MotherDuck
    (`md:…`), a remote URL, or a path that is all Jinja (`{{ env_var('DB') }}`).
    """
    value = str(path_value).strip()
    if not value or ":memory:" in value or "://" in value or value.startswith("md:"):
        return None
    match = _DUCKDB_FILE_RE.search(value)
    return match.group("stem") if match and match.group("stem").strip(".") else None


def with_stem(path_value: str, stem: str) -> str:
    """A DuckDB path with its file name's stem replaced (`../warehouse/shop.duckdb` →
    `../warehouse/<stem>.duckdb`); a path without a DuckDB file name is returned as is."""
    value = str(path_value)
    match = _DUCKDB_FILE_RE.search(value.rstrip())
    if not match:
        return value
    return value[:match.start("stem")] + stem + value[match.end("stem"):]


def _render(path: str) -> str | None:
    """A path as dbt will render it from the environment (None when it needs more than env_var)."""
    if "{{" not in path and "{%" not in path:
        return path
    import jinja2

    env = jinja2.Environment()
    env.globals["env_var"] = lambda name, default=None: os.environ.get(name, default)
    try:
        return env.from_string(path).render()
    except Exception:   # an undefined macro, a missing env var without a default, …
        return None


def upstream_file(path: str, consumer_folder: str, producer_folder: str) -> str:
    """The path a consumer attaches for the file a producer writes at `path` (its own profile's
    value, relative to the producer's folder). Folders are relative to the mesh's root, posix.

    dbt-duckdb opens a relative path from the folder dbt runs in — each project's own — so
    `shop.duckdb` is two different files for two projects while `../warehouse/x.duckdb` of
    sibling projects is one. A path that means the same from both folders is kept as written.
    """
    rendered = _render(path)
    if rendered is None or Path(rendered).is_absolute() or rendered.startswith("~"):
        return path
    up = posixpath.relpath(producer_folder, consumer_folder)
    here = posixpath.normpath(posixpath.join(consumer_folder, rendered))
    there = posixpath.normpath(posixpath.join(producer_folder, rendered))
    if here == there:
        return path
    if rendered == path:
        return posixpath.normpath(posixpath.join(up, path))
    return f"{up}/{path}"


def _line(mapping: Any, key: str) -> int | None:
    """The 1-based line of a key in a mapping ruamel loaded (None when not known)."""
    try:
        return mapping.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return None


def _plain_relative(path: str) -> bool:
    return "{{" not in path and "://" not in path and not Path(path).is_absolute() \
        and not path.startswith(("md:", ":memory:"))


def _same_style(original: Any, text: str) -> Any:
    """A new string in the quoting style of the one it replaces."""
    return type(original)(text) if isinstance(original, str) and type(original) is not str else text


def derive_profile(profile: CommentedMap, new_name: str, *, upstream: list[str],
                   database_of: dict[str, str] | None = None, replace_stems: set[str] | None = None,
                   relocate: Callable[[str], str] | None = None,
                   rename_schema: tuple[str, str] | None = None,
                   folder_of: dict[str, str] | None = None,
                   strict: bool = False) -> tuple[CommentedMap, list[str]]:
    """A copy of one profile (its `target` and `outputs`) for project `new_name`.

    `upstream`: projects whose DuckDB files to attach; `database_of`: project → file stem
    (default: the project's name); `replace_stems`: stems of mesh projects' files to drop from
    the attachments (they belong to other projects); `relocate`: rewrites a plain relative path
    of an attachment kept as it was (raw data) for the new project's folder; `rename_schema`
    (old, new): an output whose schema is named after the old project gets the new one's name
    (a schema per project, as on PostgreSQL); `folder_of`: project → its folder relative to the
    mesh's root (default: the project's name), so that a relative path attaches the file the
    upstream project writes from its own folder. Returns (profile, notes).

    Raises MeshError, with `strict`, for a DuckDB output whose path names no file this can
    derive another from (`:memory:`, MotherDuck, a path that is all Jinja); without `strict`
    that output is left as it is and a note says so.
    """
    database_of = database_of or {}
    replace_stems = replace_stems or set()
    new = copy.deepcopy(profile)
    notes: list[str] = []
    outputs = new.get("outputs") if isinstance(new, dict) else None
    if not isinstance(outputs, dict):
        raise MeshError("the profile has no `outputs:`", hint="check profiles.yml")
    stem = database_of.get(new_name, new_name)
    folder_of = folder_of or {}
    own_folder = folder_of.get(new_name, new_name)
    for target, output in outputs.items():
        if not isinstance(output, dict):
            continue
        if rename_schema and output.get("schema") == rename_schema[0]:
            output["schema"] = rename_schema[1]
        if output.get("type") != "duckdb":
            continue
        path = output.get("path")
        if not path or duckdb_stem(path) is None:
            message = (f"target {target}: the DuckDB path {str(path or '')!r} names no file that "
                       f"a project of its own could write beside the others")
            if strict:
                raise MeshError(message, line=_line(output, "path"), hint="give the target a file path (such as "
                                "`path: ../warehouse/shop.duckdb`) before splitting, or remove it")
            notes.append(message + "; left as it is")
            continue
        output["path"] = _same_style(path, with_stem(path, stem))
        if "database" in output:
            output["database"] = stem
        attach = output.get("attach")
        last = trailing_holder(attach)      # what follows the list stays after it
        kept = _kept_attachments(attach, replace_stems | {stem}, relocate)
        for project in upstream:
            theirs = upstream_file(with_stem(path, database_of.get(project, project)), own_folder,
                                   folder_of.get(project, project))
            kept.append(CommentedMap([("path", _same_style(path, theirs)), ("read_only", True)]))
        move_trailing_comment(last, trailing_holder(kept))
        if kept or attach is not None:
            output["attach"] = kept
    return new, notes


def _kept_attachments(attach: Any, drop_stems: set[str],
                      relocate: Callable[[str], str] | None) -> CommentedSeq:
    """The entries of an output's `attach:` but those of the files with these stems, a plain
    relative path rewritten by `relocate`."""
    kept = CommentedSeq()
    for entry in attach or []:
        entry_path = entry.get("path") if isinstance(entry, dict) else None
        if entry_path and duckdb_stem(entry_path) in drop_stems:
            continue
        if relocate and isinstance(entry_path, str) and _plain_relative(entry_path):
            entry["path"] = _same_style(entry_path, relocate(entry_path))
        kept.append(entry)
    return kept


def dump_profiles(profiles: dict[str, CommentedMap], header: str) -> str:
    """profiles.yml text: `header` as comment lines, then the profiles by name."""
    data = CommentedMap()
    for name, profile in profiles.items():
        data[name] = profile
    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    lines = "".join(f"# {line}".rstrip() + "\n" for line in header.strip().splitlines())
    return lines + buffer.getvalue()
