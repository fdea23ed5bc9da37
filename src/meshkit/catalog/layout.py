"""A layered ("Sugiyama-style") layout of a directed graph, computed in Python.

Browsers stall when a JavaScript layout library lays out a few thousand nodes; this runs in
a fraction of a second for 10,000 and its result is cached, so the browser only draws the
given positions. The steps:

1. cycles are broken by reversing the back edges of a depth-first search (project graphs of
   bidirectional meshes have cycles; model graphs should not, but a bad graph must not hang);
2. longest-path layering: every node sits one layer right of its furthest parent, and
   nodes without parents move right to sit just left of their nearest child;
3. edges that span several layers get invisible dummy nodes, one per layer crossed, so the
   ordering step sees them (small and medium graphs only: their count is bounded);
4. barycentric ordering: alternating sweeps sort each layer by the mean position of its
   neighbours in the previous layer, keeping the order with the fewest crossings seen;
5. coordinates: x from the layer, y from the order, then a few passes pull each node
   towards its neighbours while keeping the order and a minimum gap.

Everything is plain data: ids in, {id: (x, y)} out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

Node = Hashable

LAYER_GAP = 300.0
ROW_GAP = 64.0
MAX_DUMMIES_FACTOR = 4        # at most 4 dummies per real node, else long edges stay implicit
DETAILED_LIMIT = 4000         # above this many nodes: fewer sweeps, no coordinate refinement


@dataclass
class Layout:
    positions: dict[Node, tuple[float, float]] = field(default_factory=dict)
    layers: dict[Node, int] = field(default_factory=dict)
    reversed_edges: set[tuple[Node, Node]] = field(default_factory=set)
    crossings: int = 0

    @property
    def width(self) -> float:
        return max((x for x, _ in self.positions.values()), default=0.0)


def layered_layout(nodes: Sequence[Node], edges: Iterable[tuple[Node, Node]], *,
                   layer_gap: float = LAYER_GAP, row_gap: float = ROW_GAP,
                   sweeps: int | None = None) -> Layout:
    """Positions for `nodes`, flowing left to right along `edges` (parent, child)."""
    ids = list(dict.fromkeys(nodes))
    succ = _successors(ids, edges)
    layout = Layout()
    if not ids:
        return layout
    reversed_edges = _break_cycles(ids, succ)
    layout.reversed_edges = reversed_edges
    dag_succ: dict[Node, list[Node]] = {n: [] for n in ids}
    for parent, children in succ.items():
        for child in children:
            if (parent, child) in reversed_edges:
                dag_succ[child].append(parent)
            else:
                dag_succ[parent].append(child)
    layer = _longest_path_layers(ids, dag_succ)
    layout.layers = dict(layer)
    up, down, level = _proper_layering(ids, dag_succ, layer)
    depth = max(level.values()) + 1
    rows: list[list[object]] = [[] for _ in range(depth)]
    for item in _initial_order(ids, level):
        rows[level[item]].append(item)
    big = len(level) > DETAILED_LIMIT
    rows, crossings = _order(rows, up, down, sweeps if sweeps is not None else (4 if big else 12))
    layout.crossings = crossings
    ys = _coordinates(rows, up, down, row_gap, refine=not big)
    for item, y in ys.items():
        if not isinstance(item, _Dummy):
            layout.positions[item] = (level[item] * layer_gap, y)
    return layout


def _successors(ids: list[Node], edges: Iterable[tuple[Node, Node]]) -> dict[Node, list[Node]]:
    """Each node's children, once each, in the order of `edges`; self-loops and edges to
    nodes not laid out are left out."""
    succ: dict[Node, list[Node]] = {n: [] for n in ids}
    seen_edges: set[tuple[Node, Node]] = set()
    for parent, child in edges:
        if parent == child or parent not in succ or child not in succ or (parent, child) in seen_edges:
            continue
        seen_edges.add((parent, child))
        succ[parent].append(child)
    return succ


def _proper_layering(ids: list[Node], dag_succ: dict[Node, list[Node]], layer: dict[Node, int]
                     ) -> tuple[dict[object, list[object]], dict[object, list[object]],
                                dict[object, int]]:
    """(neighbours in the layer to the left, to the right, each item's layer): an edge longer
    than one layer becomes a chain of dummies while their number stays bounded, else it is
    left out of the ordering."""
    long_span = sum(max(0, layer[c] - layer[p] - 1) for p in ids for c in dag_succ[p])
    use_dummies = long_span <= MAX_DUMMIES_FACTOR * len(ids)
    up: dict[object, list[object]] = defaultdict(list)
    down: dict[object, list[object]] = defaultdict(list)
    level: dict[object, int] = dict(layer)
    for parent in ids:
        for child in dag_succ[parent]:
            span = layer[child] - layer[parent]
            if span == 1 or (span > 1 and not use_dummies):
                if span == 1:
                    down[parent].append(child)
                    up[child].append(parent)
                continue
            previous: object = parent
            for step in range(1, span):
                dummy = _Dummy(parent, child, step)
                level[dummy] = layer[parent] + step
                down[previous].append(dummy)
                up[dummy].append(previous)
                previous = dummy
            down[previous].append(child)
            up[child].append(previous)
    return up, down, level


class _Dummy:
    __slots__ = ("parent", "child", "step")

    def __init__(self, parent: Node, child: Node, step: int) -> None:
        self.parent, self.child, self.step = parent, child, step


def _break_cycles(ids: list[Node], succ: dict[Node, list[Node]]) -> set[tuple[Node, Node]]:
    """Back edges of an iterative depth-first search: reversing them leaves a DAG."""
    state: dict[Node, int] = {}          # 1 = on the stack, 2 = done
    back: set[tuple[Node, Node]] = set()
    for root in ids:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            current, children = stack[-1]
            advanced = False
            for child in children:
                mark = state.get(child)
                if mark is None:
                    state[child] = 1
                    stack.append((child, iter(succ[child])))
                    advanced = True
                    break
                if mark == 1:
                    back.add((current, child))
            if not advanced:
                state[current] = 2
                stack.pop()
    return back


def _longest_path_layers(ids: list[Node], succ: dict[Node, list[Node]]) -> dict[Node, int]:
    indegree = {n: 0 for n in ids}
    for children in succ.values():
        for child in children:
            indegree[child] += 1
    layer = {n: 0 for n in ids}
    ready = [n for n in ids if indegree[n] == 0]
    topo: list[Node] = []
    while ready:
        current = ready.pop()
        topo.append(current)
        for child in succ[current]:
            if layer[child] < layer[current] + 1:
                layer[child] = layer[current] + 1
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    # Roots (nodes without parents) sit just left of their nearest child, so a source that
    # only feeds a late model does not stretch an edge across the whole drawing.
    has_parent = {c for children in succ.values() for c in children}
    for node in reversed(topo):
        if node not in has_parent and succ[node]:
            layer[node] = min(layer[c] for c in succ[node]) - 1
    low = min(layer.values())
    if low:
        for node in layer:
            layer[node] -= low
    return layer


def _initial_order(ids: list[Node], level: dict[object, int]) -> list[object]:
    """Real nodes in input order, then the dummies; the sweeps do the real ordering."""
    return [*ids, *(k for k in level if isinstance(k, _Dummy))]


def _order(rows: list[list[object]], up: dict, down: dict,
           sweeps: int) -> tuple[list[list[object]], int]:
    best = [list(r) for r in rows]
    best_crossings = _count_crossings(rows, down)
    for sweep in range(sweeps):
        if best_crossings == 0:
            break
        if sweep % 2 == 0:
            for i in range(1, len(rows)):
                rows[i] = _sort_by_barycenter(rows[i], rows[i - 1], up)
        else:
            for i in range(len(rows) - 2, -1, -1):
                rows[i] = _sort_by_barycenter(rows[i], rows[i + 1], down)
        crossings = _count_crossings(rows, down)
        if crossings < best_crossings:
            best, best_crossings = [list(r) for r in rows], crossings
    return best, best_crossings


def _sort_by_barycenter(row: list[object], fixed: list[object], neighbours: dict) -> list[object]:
    position = {item: i for i, item in enumerate(fixed)}
    keyed = []
    for index, item in enumerate(row):
        places = [position[n] for n in neighbours.get(item, ()) if n in position]
        # Scale to the fixed row's width so nodes without neighbours keep their relative slot.
        key = sum(places) / len(places) if places else index * (len(fixed) / max(len(row), 1))
        keyed.append((key, index, item))
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [item for _, _, item in keyed]


def _count_crossings(rows: list[list[object]], down: dict) -> int:
    """Crossings between consecutive layers (inversion count via a Fenwick tree)."""
    total = 0
    for left, right in pairwise(rows):
        position = {item: i for i, item in enumerate(right)}
        targets: list[int] = []
        for item in left:
            targets.extend(sorted(position[c] for c in down.get(item, ()) if c in position))
        total += _inversions(targets, len(right))
    return total


def _inversions(values: list[int], size: int) -> int:
    tree = [0] * (size + 1)
    count = 0
    seen = 0
    for value in values:
        # elements already seen that are greater than value
        i = value + 1
        not_greater = 0
        while i > 0:
            not_greater += tree[i]
            i -= i & -i
        count += seen - not_greater
        i = value + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
        seen += 1
    return count


def _coordinates(rows: list[list[object]], up: dict, down: dict, gap: float,
                 refine: bool) -> dict[object, float]:
    ys: dict[object, float] = {}
    for row in rows:
        offset = (len(row) - 1) / 2.0
        for i, item in enumerate(row):
            ys[item] = (i - offset) * gap
    if not refine:
        return ys
    for _ in range(4):
        for row in rows:
            desired = []
            for item in row:
                neighbours = [ys[n] for n in up.get(item, ())] + [ys[n] for n in down.get(item, ())]
                desired.append(sum(neighbours) / len(neighbours) if neighbours else ys[item])
            for item, y in zip(row, _pack(desired, gap), strict=True):
                ys[item] = y
    return ys


def _pack(desired: list[float], gap: float) -> list[float]:
    """Positions in the given order, at least `gap` apart, as close to `desired` as a
    forward and a backward pass get them, then centred on the desired mean."""
    if not desired:
        return []
    forward = [desired[0]]
    for want in desired[1:]:
        forward.append(max(want, forward[-1] + gap))
    backward = [desired[-1]]
    for want in reversed(desired[:-1]):
        backward.append(min(want, backward[-1] - gap))
    backward.reverse()
    placed = [(f + b) / 2.0 for f, b in zip(forward, backward, strict=True)]
    for i in range(1, len(placed)):       # the average of two valid packings may still overlap
        if placed[i] < placed[i - 1] + gap:
            placed[i] = placed[i - 1] + gap
    shift = (sum(desired) - sum(placed)) / len(placed)
    return [p + shift for p in placed]



def force_layout(nodes: Sequence[Node], edges: Iterable[tuple[Node, Node]], *,
                 spacing: float = 230.0, iterations: int = 300) -> dict[Node, tuple[float, float]]:
    """A force-directed (Fruchterman–Reingold) layout for small graphs with cycles, such
    as the project graph of a mesh with bidirectional dependencies, where layers would
    stretch the loops into a long strip. Deterministic: nodes start on a circle in the
    given order. Positions are scaled so that a node's nearest neighbour is typically
    `spacing` away, then nodes whose boxes overlap are pushed apart."""
    import math

    ids = list(dict.fromkeys(nodes))
    count = len(ids)
    if count == 0:
        return {}
    if count == 1:
        return {ids[0]: (0.0, 0.0)}
    index = {n: i for i, n in enumerate(ids)}
    links = {(min(index[a], index[b]), max(index[a], index[b])) for a, b in edges
             if a in index and b in index and a != b}
    radius = 1.0
    xs = [radius * math.cos(2 * math.pi * i / count) for i in range(count)]
    ys = [radius * math.sin(2 * math.pi * i / count) for i in range(count)]
    ideal = math.sqrt(4.0 / count)               # the area is about 2 × 2
    temperature = 0.2
    for _ in range(iterations):
        dx = [0.0] * count
        dy = [0.0] * count
        for i in range(count):
            for j in range(i + 1, count):
                ddx, ddy = xs[i] - xs[j], ys[i] - ys[j]
                distance = max(math.hypot(ddx, ddy), 1e-6)
                push = ideal * ideal / distance
                dx[i] += ddx / distance * push
                dy[i] += ddy / distance * push
                dx[j] -= ddx / distance * push
                dy[j] -= ddy / distance * push
        for i, j in links:
            ddx, ddy = xs[i] - xs[j], ys[i] - ys[j]
            distance = max(math.hypot(ddx, ddy), 1e-6)
            pull = distance * distance / ideal
            dx[i] -= ddx / distance * pull
            dy[i] -= ddy / distance * pull
            dx[j] += ddx / distance * pull
            dy[j] += ddy / distance * pull
        for i in range(count):
            # A weak pull to the middle keeps unconnected projects from drifting away.
            dx[i] -= xs[i] * 0.05 * ideal
            dy[i] -= ys[i] * 0.05 * ideal
            length = max(math.hypot(dx[i], dy[i]), 1e-9)
            move = min(length, temperature)
            xs[i] += dx[i] / length * move
            ys[i] += dy[i] / length * move
        temperature = max(0.002, temperature * 0.985)
    nearest = sorted(min(math.hypot(xs[i] - xs[j], ys[i] - ys[j]) for j in range(count) if j != i)
                     for i in range(count))
    scale = spacing / max(nearest[len(nearest) // 2], 1e-6)
    xs = [x * scale * 1.3 for x in xs]            # wide rather than tall: screens are
    ys = [y * scale for y in ys]
    _separate(xs, ys)
    return {n: (round(xs[i], 1), round(ys[i], 1)) for n, i in index.items()}


def _separate(xs: list[float], ys: list[float], half_w: float = 105.0, half_h: float = 45.0,
              rounds: int = 60) -> None:
    """Push apart, in place, any two nodes whose boxes (2 × half_w by 2 × half_h, centred on
    the positions) overlap, along the axis where they overlap least."""
    count = len(xs)
    for _ in range(rounds):
        moved = False
        for i in range(count):
            for j in range(i + 1, count):
                ox = 2 * half_w - abs(xs[i] - xs[j])
                oy = 2 * half_h - abs(ys[i] - ys[j])
                if ox > 0 and oy > 0:
                    moved = True
                    if ox < oy:
                        shift = ox / 2 + 1
                        sign = 1 if xs[i] >= xs[j] else -1
                        xs[i] += sign * shift
                        xs[j] -= sign * shift
                    else:
                        shift = oy / 2 + 1
                        sign = 1 if ys[i] >= ys[j] else -1
                        ys[i] += sign * shift
                        ys[j] -= sign * shift
        if not moved:
            break
