"""Pictures of needle's computational graphs: what ``backward()`` walks through.

``to_networkx(tensor)`` turns the graph that produced ``tensor`` into a ``networkx.DiGraph``
(an edge from each input to the node its op made), and ``draw_graph(tensor)`` draws it with
matplotlib, layer by layer in topological order: leaves (data and parameters) at the bottom,
the output at the top, each node labelled with its op, its shape and, after ``backward()``,
its adjoint (``.grad``). Both only read the graph: they never call an op, so they work on any
handout, before its ops or its ``backward`` are written.

Example:
    >>> import needle as ndl
    >>> x = ndl.Tensor([[1.0, 2.0]], requires_grad=True)
    >>> y = (x * x).sum()
    >>> graph = ndl.viz.to_networkx(y)
    >>> sorted(data["op"] or "leaf" for _, data in graph.nodes(data=True))
    ['EWiseMul', 'Summation', 'leaf']
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy

from .autograd import Value

if TYPE_CHECKING:  # imported when a graph is built or drawn, so ``import needle`` stays quick
    import networkx
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Box colours (matplotlib names) of the three kinds of node.
COLOURS = {"op": "lightsteelblue", "parameter": "palegreen", "constant": "lightgrey"}


def _check(tensor: Any) -> None:
    if not isinstance(tensor, Value):
        raise TypeError(f"expected a needle Tensor (the output of an expression), got "
                        f"{type(tensor).__name__}: {tensor!r:.60}")


def _op_label(op: Any) -> str:
    """``EWiseMul``, or ``AddScalar(scalar=1.0)`` for an op with settings."""
    settings = {k: v for k, v in vars(op).items()
                if isinstance(v, (bool, int, float, str, tuple, type(None))) and not k.startswith("_")}
    name = type(op).__name__
    if not settings:
        return name
    return name + "(" + ", ".join(f"{k}={v!r}" for k, v in settings.items()) + ")"


def _array_text(array: numpy.ndarray, max_values: int) -> str:
    """The values of a small array on one line, or the shape and norm of a larger one."""
    if array.size <= max_values:
        return numpy.array2string(array.ravel(), precision=3, separator=", ", suppress_small=True)
    return f"|.|={float(numpy.linalg.norm(array)):.3g}"


def _shape(node: Value) -> tuple[Any, ...]:
    shape = getattr(node, "shape", None)
    return tuple(shape) if shape is not None else ()


def to_networkx(tensor: Value, max_values: int = 4) -> networkx.DiGraph:
    """The computational graph that produced ``tensor``, as a ``networkx.DiGraph``.

    Nodes are the graph's ``Value`` objects, keyed by ``id(node)``; there is an edge ``u -> v``
    for each input ``u`` of ``v``'s op (one edge for ``x * x``: ``input_positions`` lists both
    argument positions). Each node has the attributes

    - ``value``: the ``Tensor`` itself;
    - ``op``: the op's class name (``"EWiseMul"``), or None for a leaf;
    - ``kind``: ``"op"``, ``"parameter"`` (a leaf with ``requires_grad``) or ``"constant"``;
    - ``shape``: the node's shape, a tuple of ints (``()`` for a ``TensorTuple``);
    - ``grad``: the adjoint ``.grad`` as a NumPy array after ``backward()``, else None;
    - ``generation``: its layer: an op's is its place in networkx's ``topological_generations``
      (above all its inputs), a leaf's one below its first consumer's;
    - ``label``: the text ``draw_graph`` shows: op (with its settings) or ``leaf``, shape, and
      ``grad`` (the values when at most ``max_values``, else the norm) once computed.

    The nodes are found by following ``.inputs`` with an explicit stack (no recursion, so deep
    graphs are fine); the layers come from ``networkx.topological_generations``.

    Args:
        tensor: the output of an expression (a ``Tensor`` or ``TensorTuple``).
        max_values: adjoints with at most this many entries are printed in full.

    Raises:
        TypeError: if ``tensor`` is not a needle ``Value``.
    """
    import networkx

    _check(tensor)
    graph = networkx.DiGraph()
    stack, seen = [tensor], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        grad = None if node.grad is None else numpy.asarray(node.grad.numpy())
        if node.op is None:
            kind, title = ("parameter" if node.requires_grad else "constant"), "leaf"
        else:
            kind, title = "op", _op_label(node.op)
        label = f"{title}\nshape {_shape(node)}"
        if grad is not None:
            label += f"\ngrad {_array_text(grad, max_values)}"
        graph.add_node(id(node), value=node, op=None if node.op is None else type(node.op).__name__,
                       kind=kind, shape=_shape(node), grad=grad, label=label)
        for position, child in enumerate(node.inputs):
            if graph.has_edge(id(child), id(node)):
                graph.edges[id(child), id(node)]["input_positions"].append(position)
            else:
                graph.add_edge(id(child), id(node), input_positions=[position])
        stack.extend(reversed(node.inputs))  # argument 0 first: drawn leftmost in its layer
    for generation, nodes in enumerate(networkx.topological_generations(graph)):
        for key in nodes:
            graph.nodes[key]["generation"] = generation
    for key in [key for key, degree in graph.in_degree() if degree == 0 and graph.out_degree(key)]:
        # A leaf sits just below its first consumer, not always at the bottom.
        graph.nodes[key]["generation"] = min(graph.nodes[s]["generation"] for s in graph.successors(key)) - 1
    return graph


def _layout(graph: networkx.DiGraph) -> dict[int, tuple[float, float]]:
    """Each node at ``(place in its layer, layer)``, a layer's nodes one unit apart and centred,
    in the order they were found (an op's inputs in argument order)."""
    layers: dict[int, list[int]] = {}
    for key, data in graph.nodes(data=True):
        layers.setdefault(data["generation"], []).append(key)
    return {key: (i - (len(keys) - 1) / 2, float(generation))
            for generation, keys in layers.items() for i, key in enumerate(keys)}


def draw_graph(tensor: Value, path: str | Path | None = None, ax: Axes | None = None,
               max_values: int = 4, title: str | None = None) -> Figure:
    """Draw the computational graph that produced ``tensor``, bottom (leaves) to top (output).

    Op nodes are blue, leaves that require grad (parameters) green, constant leaves grey; each
    box shows the op or ``leaf``, the shape and, after ``backward()``, the adjoint (see
    ``to_networkx``). Layer ``k`` holds networkx's ``k``-th topological generation (the
    layered, multipartite layout), so every arrow points upward, from an op's input to its output. Uses only
    matplotlib's object API (no window is opened: safe with the Agg backend and in notebooks).

    Args:
        tensor: the output of an expression.
        path: if given, the figure is also saved there (PNG, PDF or SVG, by its suffix).
        ax: axes to draw into; by default a new figure sized to the graph.
        max_values: adjoints with at most this many entries are printed in full.
        title: the figure's title (default: none).

    Returns:
        The ``matplotlib.figure.Figure`` drawn into.

    Raises:
        TypeError: if ``tensor`` is not a needle ``Value``.
    """
    import matplotlib.figure
    import networkx

    graph = to_networkx(tensor, max_values)
    positions = _layout(graph)
    layers = int(max(y for _, y in positions.values())) + 1
    widest = int(max(x for x, _ in positions.values()) * 2) + 1
    if ax is None:
        figure = matplotlib.figure.Figure(figsize=(max(4.0, 2.6 * widest), max(3.0, 1.3 * layers)))
        ax = figure.add_subplot()
    else:
        figure = ax.figure  # type: ignore[assignment]
    networkx.draw_networkx_edges(graph, positions, ax=ax, arrows=True, arrowstyle="-|>",
                                 arrowsize=14, node_size=2500, edge_color="dimgrey")
    for key, data in graph.nodes(data=True):
        x, y = positions[key]
        ax.text(x, y, data["label"], ha="center", va="center", fontsize=8, family="monospace",
                bbox=dict(boxstyle="round,pad=0.4", facecolor=COLOURS[data["kind"]],
                          edgecolor="black" if data["kind"] == "op" else "dimgrey"))
    ax.set_xlim(-widest / 2, widest / 2)
    ax.set_ylim(-0.5, layers - 0.5)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if path is not None:
        figure.savefig(path, dpi=120, bbox_inches="tight")
    return figure
