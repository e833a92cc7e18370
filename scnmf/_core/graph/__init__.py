"""Cell graphs: spanning forests, candidate edges, ε-graphs and Laplacians, H0 persistence."""

from .distances import all_pairs, knn_edges, pair_distances
from .edges import candidate_edges
from .laplacian import degrees, epsilon_graph, heat_weights, knn_graph, laplacian
from .mst import (
    EXACT_MAX_CELLS,
    PRIM_MAX_CELLS,
    EdgeList,
    connected_component_labels,
    minimum_spanning_forest,
)
from .persistence import Persistence, betti0, h0_diagram, persistence, select_scales

__all__ = [
    "EXACT_MAX_CELLS",
    "PRIM_MAX_CELLS",
    "EdgeList",
    "Persistence",
    "all_pairs",
    "betti0",
    "candidate_edges",
    "connected_component_labels",
    "degrees",
    "epsilon_graph",
    "h0_diagram",
    "heat_weights",
    "knn_edges",
    "knn_graph",
    "laplacian",
    "minimum_spanning_forest",
    "pair_distances",
    "persistence",
    "select_scales",
]
