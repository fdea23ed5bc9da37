"""Data-product scores kept in the store, beside a project's runs in one environment.

    <project>/<environment>/scores.json

One small file per project and environment, rewritten atomically by `meshkit score`. It
names the run it scored, so a reader can tell whether the scores describe the latest run.
The catalog and any other reader decode it with `read_scores`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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


def scores_path(store: Store, project: str, env: str) -> str:
    return f"{store.root}/{project}/{env}/{SCORES}"


def write_scores(store: Store, scores: ScoreFile) -> str:
    """Replace the project's scores for an environment; returns where they were written."""
    path = scores_path(store, scores.project, scores.environment)
    data = _encoder.encode(scores)
    where = store.describe(scores.project, scores.environment, SCORES)
    try:
        if store.is_local:
            _replace_local(Path(path), data)
        else:
            store.fs.pipe_file(path, data)   # one object PUT: readers see old or new, never half
    except OSError as exc:
        raise MeshError(f"cannot write scores to the artifact store: {exc}", file=where,
                        hint="check that the store is writable") from None
    return where


def _replace_local(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def read_scores(store: Store, project: str, env: str) -> ScoreFile | None:
    try:
        data = store.fs.cat_file(scores_path(store, project, env))
    except FileNotFoundError:
        return None
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
