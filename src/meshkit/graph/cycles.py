"""Cycles in a dependency graph, of models or of projects.

A graph here is a plain mapping: each node → the nodes it depends on (a model's parents, a
project's upstream projects). A node only named as a dependency is a node without any.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from typing import Iterable, Iterator, Mapping


class Cycle(Exception):
    """The graph has a cycle; `path` names one, each node followed by a node it depends on,
    ending where it starts (`a → b → a`: a depends on b, b on a)."""

    def __init__(self, path: list[str]) -> None:
        super().__init__(" → ".join(path))
        self.path = path


def dependency_order(upstream: Mapping[str, Iterable[str]]) -> list[str]:
    """Every node after the nodes it depends on; a cycle raises `Cycle` with its path."""
    try:
        return list(TopologicalSorter(upstream).static_order())
    except CycleError as exc:
        raise Cycle(list(reversed(exc.args[1]))) from None


def cycles(upstream: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The groups of two or more nodes that depend on each other, each sorted, in order.

    Tarjan's strongly connected components, iterative (a long chain does not hit Python's
    recursion limit), visiting nodes and their dependencies in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    work: list[tuple[str, Iterator[str]]] = []     # the depth-first path, each with what is left

    def enter(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        work.append((node, iter(sorted(upstream.get(node, ())))))

    for root in sorted(upstream):
        if root in index:
            continue
        enter(root)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    enter(nxt)
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = _pop_component(stack, on_stack, node)
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def _pop_component(stack: list[str], on_stack: set[str], root: str) -> list[str]:
    """The members of the strongly connected component whose root is `root`: those above it
    on Tarjan's stack, and itself, taken off the stack."""
    component = []
    while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == root:
            return component
