"""graph/cycles.py: the cycle walks that split, governance and the project build order share."""

from __future__ import annotations

import pytest

from meshkit.graph.cycles import Cycle, cycles, dependency_order


def test_dependency_order_puts_every_node_after_what_it_depends_on():
    upstream = {"mart": ["stg", "seed"], "stg": ["seed"], "report": ["mart"]}
    order = dependency_order(upstream)
    assert sorted(order) == ["mart", "report", "seed", "stg"]
    for node, parents in upstream.items():
        assert all(order.index(p) < order.index(node) for p in parents)


def test_dependency_order_names_a_cycle_each_node_before_what_it_depends_on():
    depends_on = {"a": "c", "b": "a", "c": "b"}
    with pytest.raises(Cycle) as caught:
        dependency_order({**{node: [parent] for node, parent in depends_on.items()}, "d": []})
    path = caught.value.path
    assert path[0] == path[-1] and sorted(path[:-1]) == ["a", "b", "c"]
    assert all(depends_on[node] == parent for node, parent in zip(path, path[1:]))
    assert str(caught.value) == " → ".join(path)


def test_cycles_are_the_groups_that_depend_on_each_other():
    upstream = {
        "a": {"b"}, "b": {"a"},                 # a pair
        "c": {"d"}, "d": {"e"}, "e": {"c", "a"},  # a triangle that also reads the pair
        "f": {"a", "missing"},                  # downstream only; `missing` is no key
        "g": {"g"},                             # a self-reference is no cycle between two
    }
    assert cycles(upstream) == [["a", "b"], ["c", "d", "e"]]
    assert cycles({"x": set(), "y": {"x"}}) == []
    assert cycles({}) == []


def test_cycles_walk_a_long_chain_without_recursion():
    length = 5000
    upstream = {f"n{i}": [f"n{i + 1}"] for i in range(length)}
    upstream[f"n{length}"] = ["n0"]
    [component] = cycles(upstream)
    assert len(component) == length + 1
