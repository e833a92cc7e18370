"""0-dimensional persistent homology of the ε-graph filtration (gudhi) and scale selection.

H0 of a Vietoris–Rips filtration only sees the 1-skeleton: every cell is born at 0 and a
class dies when an edge first joins two components, so the finite deaths are the lengths
of a minimum spanning tree (elder rule). The H0 diagram of a graph filtration equals that of
its minimum spanning forest, so gudhi is given the vertices and the forest of the candidate
edges (Kruskal, O(edges · α(n))): n − c edges instead of all candidates, the same diagram.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .mst import EdgeList, minimum_spanning_forest

#: Relative margin that puts the coarsest scale just above the longest candidate edge.
TOP_MARGIN = 1e-9


@dataclass
class Persistence:
    """H0 persistence of a cell graph.

    Attributes
    ----------
    diagram
        (n, 2) birth/death pairs sorted by death; ``inf`` deaths for essential classes.
    canonical
        Strictly increasing scales at which β0 changes (distinct finite deaths) followed by
        the coarsest scale, just above the longest candidate edge (the complete graph when
        every pair is a candidate).
    n_components
        β0 of the ε-graph (edges with ``d < ε``) at each canonical scale.
    timings
        Wall time in seconds of each stage (diagnostics; may be empty).
    """

    diagram: np.ndarray
    canonical: np.ndarray
    n_components: np.ndarray
    timings: dict[str, float] = field(default_factory=dict, repr=False, compare=False)


def h0_diagram(edges: EdgeList, timings: dict[str, float] | None = None) -> np.ndarray:
    """H0 diagram of the filtration: vertices at 0, each candidate edge at its length.

    gudhi computes it on the vertices and the minimum spanning forest of the candidate
    edges, whose filtration has the same H0 diagram as the full candidate set's.
    ``timings``, when given, receives the wall time of the forest and gudhi stages.
    """
    import gudhi

    t0 = time.perf_counter()
    forest = minimum_spanning_forest(edges)
    t1 = time.perf_counter()
    st = gudhi.SimplexTree()
    st.insert_batch(np.arange(edges.n, dtype=np.int64)[None, :], np.zeros(edges.n))
    if forest.size:
        st.insert_batch(np.vstack([edges.rows[forest], edges.cols[forest]]), edges.dists[forest])
    # min_persistence=-1 keeps zero-length intervals (duplicate cells die at 0).
    st.compute_persistence(min_persistence=-1.0, persistence_dim_max=False)
    diagram = np.asarray(st.persistence_intervals_in_dimension(0), dtype=np.float64)
    diagram = diagram.reshape(-1, 2)
    diagram = diagram[np.argsort(diagram[:, 1], kind="stable")]
    if timings is not None:
        timings["mst"] = t1 - t0
        timings["gudhi"] = time.perf_counter() - t1
    return diagram


def betti0(deaths: np.ndarray, n: int, scales: np.ndarray) -> np.ndarray:
    """β0 of the ε-graph (``d < ε``) at each scale: n minus the deaths strictly below ε."""
    finite = np.sort(deaths[np.isfinite(deaths)])
    return n - np.searchsorted(finite, np.asarray(scales, dtype=np.float64), side="left")


def persistence(edges: EdgeList) -> Persistence:
    """Diagram, canonical scales and β0 per scale of the candidate-edge filtration."""
    timings: dict[str, float] = {}
    diagram = h0_diagram(edges, timings)
    t0 = time.perf_counter()
    deaths = diagram[:, 1]
    finite = np.unique(deaths[np.isfinite(deaths)])
    longest = float(edges.dists[-1]) if edges.n_edges else 0.0
    top = longest * (1 + TOP_MARGIN) + TOP_MARGIN
    canonical = np.append(finite[finite < top], top)
    counts = betti0(deaths, edges.n, canonical)
    timings["canonical_scales"] = time.perf_counter() - t0
    return Persistence(diagram, canonical, counts, timings)


def select_scales(canonical: np.ndarray, n_components: np.ndarray, n_scales: int) -> np.ndarray:
    """Pick ``n_scales`` indices of the canonical scales, geometric in β0.

    Rule: always the finest and the coarsest canonical scale; in between, target β0 values
    spaced geometrically from β0(finest) down to β0(coarsest) and take, for each target, the
    canonical scale whose β0 is nearest on a log scale (ties to the finer scale). Each kept
    scale therefore coarsens the cell graph by a similar factor, so fine scales (where the
    reference finds the best clustering) are not crowded out by the many tiny merges near
    the finest end, nor by the few outlier merges near the coarsest end. Duplicates are
    dropped, so fewer than ``n_scales`` can come back when there are fewer canonical scales.

    Returns
    -------
    numpy.ndarray
        Sorted unique indices into ``canonical``.
    """
    T = canonical.size
    if n_scales >= T:
        return np.arange(T)
    if n_scales == 1:
        return np.array([0])
    logb = np.log(np.maximum(n_components, 1).astype(np.float64))
    targets = np.linspace(logb[0], logb[-1], n_scales)
    picked = {0, T - 1}
    for target in targets[1:-1]:
        picked.add(int(np.argmin(np.abs(logb - target))))
    return np.array(sorted(picked))
