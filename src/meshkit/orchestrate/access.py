"""Refs to non-public models, judged against what this run publishes.

The planning parse reads upstream interfaces from the store as they were before the run, so
a change that makes a model public and refs it from another project would be refused there.
The parse therefore records such refusals (the plugin, under MESHKIT_REFUSALS) and the
orchestrator decides here, after planning: a refused ref stands unless its target is public
now in the store, or public in the producer's working copy and rebuilt by this run — then the
producer publishes it before the reader's invocation (the reader's node depends on it) and
the reader's real parse sees it public. A ref the parse answered with a placeholder (the
store has no such model yet) stands when the producer's working copy has the model but not
public. A standing refusal fails the build before any dbt invocation of its project runs, with
the plugin's own words (file, line, owner, fix); a project this run selects nothing of is not
refused. A ref to an undeclared project always stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from meshkit.dbt.nodes import access_of, group_of, is_latest
from meshkit.errors import MeshError

if TYPE_CHECKING:
    from meshkit.graph.mesh_graph import MeshGraph
    from meshkit.orchestrate.state import Decision


class Refusal(msgspec.Struct, frozen=True):
    """A ref the plugin refused during a planning parse (meshkit.consumer.refusal_record)."""

    consumer: str               # the project whose parse refused it
    node: str                   # the reading node's unique id
    node_name: str
    target: str                 # the refused model's unique id (stand-in id)
    project: str                # the target's project
    model: str
    kind: str                   # restricted | undeclared | unpublished (a placeholder)
    message: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def error(self) -> MeshError:
        return MeshError(self.message, file=self.file, line=self.line, hint=self.hint)


_decoder = msgspec.json.Decoder(list[Refusal])


def read_refusals(path: Path) -> list[Refusal]:
    """The refusals a planning parse recorded ([] when the file is absent)."""
    try:
        return _decoder.decode(path.read_bytes())
    except FileNotFoundError:
        return []
    except (OSError, msgspec.DecodeError) as exc:
        raise MeshError(f"cannot read the parse's refused refs: {exc}", file=path,
                        hint="run `meshkit build` again (the parse is redone)") from None


@dataclass(frozen=True)
class ModelAccess:
    """What the plan knows of a model of a working copy: its access and whether it is rebuilt."""

    access: str
    rebuilt: bool
    group: str | None = None


def published_in_run(models: dict[str, ModelAccess]) -> set[str]:
    """Unique ids of working-copy models this run rebuilds and publishes as public."""
    return {uid for uid, model in models.items() if model.access == "public" and model.rebuilt}


def standing_refusals(refusals: list[Refusal], built_projects: set[str],
                      public_in_store: set[str], public_in_run: set[str],
                      working: dict[str, ModelAccess] | None = None) -> list[Refusal]:
    """The refusals that still hold, in a project this run builds (`built_projects`): to a
    target neither public in the store now nor published public by this run first; or a
    placeholder for a model that the producer's working copy (`working`) has, not public."""
    working = working or {}
    standing = []
    for refusal in refusals:
        if refusal.consumer not in built_projects:
            continue
        if refusal.kind == "unpublished":
            model = working.get(refusal.target)
            if model is not None and model.access != "public":
                standing.append(_reworded(refusal, model, working))
        elif refusal.kind != "restricted" or (refusal.target not in public_in_store
                                              and refusal.target not in public_in_run):
            standing.append(refusal)
    return standing


def _reworded(refusal: Refusal, model: ModelAccess, working: dict[str, ModelAccess]) -> Refusal:
    """The plugin's words for the working copy's access (it recorded a placeholder)."""
    from meshkit.consumer import access_refusal

    prefix = f"model.{refusal.project}."
    public = {uid[len(prefix):].split(".v")[0] for uid, m in working.items()
              if uid.startswith(prefix) and m.access == "public"}
    error = access_refusal(refusal.node_name, refusal.project, refusal.model, model.access,
                           model.group, refusal.file, refusal.line, public)
    return msgspec.structs.replace(refusal, message=error.message, hint=error.hint)


def refuse(refusals: list[Refusal]) -> None:
    """Raise the first standing refusal (sorted by file and line, as dbt would meet them)."""
    if refusals:
        first = min(refusals, key=lambda r: (r.file or "", r.line or 0, r.node))
        raise first.error()


def check_refused_refs(graph: "MeshGraph", decisions: dict[str, "Decision"],
                       built_projects: set[str], refusals: list[Refusal],
                       public_in_store: set[str]) -> set[str]:
    """`built_projects`: those this run selects nodes of. Raise the first refusal that stands (MeshError, the plugin's message); else return the
    unique ids this run publishes as public (an unpinned ref names a versioned model by its
    id without version, so the latest version counts under both)."""
    models: dict[str, ModelAccess] = {}
    for uid, node in graph.nodes.items():
        if node.resource_type != "model":
            continue
        model = ModelAccess(access_of(node), uid in decisions and decisions[uid].rebuild,
                            group_of(node))
        models[uid] = model
        if is_latest(node):
            models.setdefault(f"model.{graph.owner[uid]}.{node.name}", model)
    public = published_in_run(models)
    refuse(standing_refusals(refusals, built_projects, public_in_store, public, models))
    return public
