"""Fingerprints: has a project's code changed, and has a node's code or config changed?

Both are content hashes, so they survive `git checkout` and clock changes. A project's
fingerprint decides whether its cached parse can be reused without starting dbt; a node's
fingerprint is what "code or config changed" means for a state-aware run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec

from meshkit.dbt.files import project_files


def project_fingerprint(project_dir: Path, extra: str = "") -> str:
    """Hash of every file dbt could read from the project (installed packages included)."""
    digest = hashlib.sha256(extra.encode())
    for path in sorted(project_files(project_dir)):
        digest.update(str(path.relative_to(project_dir)).encode())
        digest.update(b"\0")
        try:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


class _Macro(msgspec.Struct):
    macro_sql: str = ""
    depends_on: "_MacroDeps" = msgspec.field(default_factory=lambda: _MacroDeps())


class _MacroDeps(msgspec.Struct):
    macros: list[str] = msgspec.field(default_factory=list)


class _StateNode(msgspec.Struct):
    resource_type: str
    checksum: msgspec.Raw = msgspec.Raw(b"null")
    config: msgspec.Raw = msgspec.Raw(b"null")
    columns: msgspec.Raw = msgspec.Raw(b"null")
    constraints: msgspec.Raw = msgspec.Raw(b"null")
    relation_name: str | None = None
    depends_on: _MacroDeps = msgspec.field(default_factory=_MacroDeps)


class _StateManifest(msgspec.Struct):
    nodes: dict[str, _StateNode] = msgspec.field(default_factory=dict)
    macros: dict[str, _Macro] = msgspec.field(default_factory=dict)
    functions: dict[str, _StateNode] = msgspec.field(default_factory=dict)


_decoder = msgspec.json.Decoder(_StateManifest)


def node_fingerprints(manifest_bytes: bytes,
                      macro_lists: dict[str, list[str]] | None = None) -> dict[str, str]:
    """unique_id → hash of the node's file, config, columns, relation and macros it calls.

    `macro_lists` (unique_id → macros) replaces the nodes' own lists: dbt adds the macros a
    node called while it ran to a run's manifest (a test's `statement`, …), which a parse
    does not list, so a run's manifest is compared with a parse through the parse's lists.
    """
    manifest = _decoder.decode(manifest_bytes)
    macro_hash = _macro_hasher(manifest.macros)
    result = {}
    for uid, node in (*manifest.nodes.items(), *manifest.functions.items()):
        if node.resource_type not in ("model", "seed", "snapshot", "test", "function"):
            continue
        digest = hashlib.sha256()
        for part in (node.checksum, node.config, node.columns, node.constraints):
            digest.update(bytes(part))
        digest.update((node.relation_name or "").encode())
        macros = node.depends_on.macros if macro_lists is None else macro_lists.get(uid, [])
        for macro in sorted(set(macros)):
            digest.update(macro_hash(macro).encode())
        result[uid] = digest.hexdigest()[:32]
    return result


def macro_lists(manifest_bytes: bytes) -> dict[str, list[str]]:
    """unique_id → the macros each node calls, as the manifest lists them."""
    return {uid: node.depends_on.macros for uid, node in _decoder.decode(manifest_bytes).nodes.items()}


def _macro_hasher(macros: dict[str, _Macro]):
    """Hash of a macro with everything it calls, memoised (macros may call each other)."""
    memo: dict[str, str] = {}

    def visit(uid: str, stack: frozenset[str] = frozenset()) -> str:
        if uid in memo:
            return memo[uid]
        macro = macros.get(uid)
        if macro is None or uid in stack:
            return uid
        digest = hashlib.sha256(macro.macro_sql.encode())
        for child in sorted(set(macro.depends_on.macros)):
            digest.update(visit(child, stack | {uid}).encode())
        memo[uid] = digest.hexdigest()
        return memo[uid]

    return visit
