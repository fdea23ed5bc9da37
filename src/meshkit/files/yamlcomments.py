"""Keeping ruamel.yaml's comments in place when a mapping or list grows at its end.

ruamel keeps what follows a block (blank lines, the comment above the next entry) on the
block's last scalar. Append a key or an item after it and that comment ends up above the new
value instead of below it; moving it to the new last value keeps the file reading as before.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq


def trailing_holder(node: Any) -> tuple[Any, Any] | None:
    """(container, key or index) of the last scalar of a block, where its trailing comment is."""
    if isinstance(node, CommentedMap) and node:
        key = list(node.keys())[-1]
        value = node[key]
        if isinstance(value, (CommentedMap, CommentedSeq)) and len(value):
            return trailing_holder(value)
        return node, key
    if isinstance(node, CommentedSeq) and node:
        index = len(node) - 1
        value = node[index]
        if isinstance(value, (CommentedMap, CommentedSeq)) and len(value):
            return trailing_holder(value)
        return node, index
    return None


def move_trailing_comment(source: tuple[Any, Any] | None, target: tuple[Any, Any] | None) -> None:
    """Move the comment (or blank lines) after one last value to after another."""
    if source is None or target is None or (source[0] is target[0] and source[1] == target[1]):
        return
    node, key = source
    slot = 2 if isinstance(node, CommentedMap) else 0
    items = node.ca.items.get(key)
    if not items or len(items) <= slot or items[slot] is None:
        return
    token = items[slot]
    items[slot] = None
    tnode, tkey = target
    tslot = 2 if isinstance(tnode, CommentedMap) else 0
    entry = tnode.ca.items.setdefault(tkey, [None, None, None, None])
    while len(entry) <= tslot:
        entry.append(None)
    entry[tslot] = token
