"""The server-side layered layout: parents left of children, no overlaps, few crossings."""

from __future__ import annotations

import random

from meshkit.catalog.layout import LAYER_GAP, ROW_GAP, layered_layout


def _rows(layout):
    rows: dict[float, list[float]] = {}
    for x, y in layout.positions.values():
        rows.setdefault(x, []).append(y)
    return rows


def _random_dag(n: int, seed: int = 7):
    rng = random.Random(seed)
    nodes = [f"n{i}" for i in range(n)]
    edges = []
    for i in range(1, n):
        for _ in range(rng.randint(1, 3)):
            edges.append((nodes[rng.randrange(max(0, i - 40), i)], nodes[i]))
    return nodes, edges


def test_parents_sit_left_of_children_and_nodes_never_overlap():
    nodes, edges = _random_dag(400)
    layout = layered_layout(nodes, edges)
    assert set(layout.positions) == set(nodes)
    for parent, child in edges:
        assert layout.positions[parent][0] < layout.positions[child][0]
    for ys in _rows(layout).values():
        ys.sort()
        assert all(b - a >= ROW_GAP - 1e-6 for a, b in zip(ys, ys[1:]))


def test_layers_are_longest_paths_and_roots_move_next_to_their_child():
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("root", "d")]
    layout = layered_layout(["a", "b", "c", "d", "root"], edges)
    assert layout.layers == {"a": 0, "b": 1, "c": 2, "d": 3, "root": 2}
    assert layout.positions["d"][0] == 3 * LAYER_GAP


def test_barycentric_sweeps_untangle_crossings():
    # Input order crosses every edge pair; a crossing-free order exists.
    left = [f"l{i}" for i in range(6)]
    right = [f"r{i}" for i in range(6)]
    edges = [(left[i], right[5 - i]) for i in range(6)]
    layout = layered_layout(left + right, edges)
    assert layout.crossings == 0
    order_left = sorted(left, key=lambda n: layout.positions[n][1])
    order_right = sorted(right, key=lambda n: layout.positions[n][1])
    assert [right[5 - left.index(n)] for n in order_left] == order_right


def test_cycles_are_broken_instead_of_hanging():
    # A bidirectional project graph: analytics ⇄ finance, plus a longer loop.
    edges = [("analytics", "finance"), ("finance", "analytics"), ("finance", "marketing"),
             ("marketing", "sales"), ("sales", "finance")]
    layout = layered_layout(["analytics", "finance", "marketing", "sales"], edges)
    assert len(layout.positions) == 4
    assert layout.reversed_edges, "some edge had to be reversed to layer a cycle"


def test_ignores_self_loops_duplicates_and_unknown_ends():
    layout = layered_layout(["a", "b"], [("a", "a"), ("a", "b"), ("a", "b"), ("a", "zzz")])
    assert layout.positions["a"][0] < layout.positions["b"][0]


def test_empty_and_single():
    assert layered_layout([], []).positions == {}
    assert layered_layout(["only"], []).positions == {"only": (0.0, 0.0)}


def test_ten_thousand_nodes_lay_out():
    nodes, edges = _random_dag(10_000, seed=3)
    layout = layered_layout(nodes, edges)
    assert len(layout.positions) == 10_000


def test_force_layout_for_cyclic_project_graphs_keeps_boxes_apart():
    from meshkit.catalog.layout import force_layout

    names = [f"p{i}" for i in range(30)]
    rng = random.Random(5)
    edges = [(rng.choice(names), rng.choice(names)) for _ in range(90)]
    positions = force_layout(names, edges)
    assert positions == force_layout(names, edges), "deterministic"
    points = list(positions.values())
    for i, (x1, y1) in enumerate(points):
        for x2, y2 in points[i + 1:]:
            assert abs(x1 - x2) >= 209 or abs(y1 - y2) >= 89, "project boxes overlap"
