"""Data-product scores kept in the store, beside a project's runs in one environment.

    <project>/<environment>/scores.json

One small file per project and environment, rewritten atomically by `meshkit score`. It
names the run it scored, so a reader can tell whether the scores describe the latest run.
The catalog and any other reader decode it with `read_scores`.
"""

from __future__ import annotations

import msgspec

from meshkit.errors import MeshError
from meshkit.store.store import Store

SCORES = "scores.json"


class ScoreStep(msgspec.Struct):
    id: str
    title: str
    passed: bool | None        # None: the step does not apply in this mesh
    detail: str = ""


class ModelScore(msgspec.Struct):
    unique_id: str
    name: str
    score: float               # 0–5
    steps: list[ScoreStep]
    version: str | None = None


class ScoreFile(msgspec.Struct):
    project: str
    environment: str
    computed_at: str
    meshkit_version: str
    models: list[ModelScore]
    run_id: str | None = None
    method: dict = msgspec.field(default_factory=dict)   # the mesh's score settings used


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ScoreFile)


def write_scores(store: Store, scores: ScoreFile) -> str:
    """Replace the project's scores for an environment whole (readers see the old scores or
    the new ones); returns where they were written. Raises MeshError when the store refuses."""
    try:
        return store.write_file(scores.project, scores.environment, SCORES,
                                _encoder.encode(scores))
    except MeshError as exc:
        raise MeshError(f"cannot write scores to the artifact store: {exc.message}",
                        file=store.describe(scores.project, scores.environment, SCORES),
                        hint="check that the store is writable") from None


def read_scores(store: Store, project: str, env: str) -> ScoreFile | None:
    """The project's scores in an environment; None when none were written or they cannot
    be decoded."""
    data = store.read_file(project, env, SCORES)
    if data is None:
        return None
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
