"""What a consensus NMF returns (pure arrays; ``tl.consensus_nmf`` stores them).

Orientation: ``X`` n × m (cells × genes); programs are rows (k × m), usage n × k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ReplicateSet:
    """The replicate programs of one k and how the consensus treated them.

    ``N = n_replicates · k`` programs, in replicate-major order (replicate r's programs are
    rows ``r·k … r·k + k − 1``).

    Attributes
    ----------
    local_density
        (N,) mean Euclidean distance of each unit-norm program to its
        ``local_neighborhood_size · n_replicates`` nearest other programs.
    kept
        (N,) bool: passed the density filter (``local_density < density_threshold``).
    labels
        (N,) int: consensus program (0 … k − 1) of each kept program, −1 for filtered ones.
    order
        (N,) permutation for the clustergram: kept programs grouped by label (each group
        ordered by average linkage), then the filtered ones.
    correlation
        (M, M) float32 Pearson correlation of the programs ``correlation_index`` (at most
        :data:`~scnmf._core.consensus.combine.MAX_CLUSTERGRAM` of them, evenly thinned along
        ``order``), in that order.
    correlation_index
        (M,) int: which programs (indices into N) the correlation rows are.
    """

    local_density: np.ndarray
    kept: np.ndarray
    labels: np.ndarray
    order: np.ndarray
    correlation: np.ndarray
    correlation_index: np.ndarray


@dataclass
class ConsensusFit:
    """Consensus of the selected k and the k-selection table over every k tried.

    Attributes
    ----------
    ks
        (K,) int, the ranks tried, ascending.
    stability
        (K,) silhouette of each k's replicate clustering (every replicate, no density filter,
        as cNMF's k-selection plot).
    error
        (K,) reconstruction error of each k's consensus (no density filter): ‖X − U S‖²_F for
        β = 2, else D_β(X | U S).
    n_kept, n_filtered
        (K,) int, replicate programs the density filter keeps / drops at each k.
    k
        The selected k.
    usage
        (n × k) float64 usage of the selected consensus, rows summing to 1 (a cell with no
        signal gets a zero row), programs ordered by total usage, largest first.
    programs
        (k × m) float64 consensus programs (cluster medians of the kept unit-norm
        replicate programs), rows summing to 1, in the order of ``usage``.
    gene_scores
        (k × m_scores) float64: OLS coefficients of the z-scored genes of the score matrix on
        ``usage`` (cNMF's specificity scores), in the same order.
    replicates
        The replicate programs of the selected k.
    replicate_loss, n_iter, converged
        (K, R): final loss, iterations and convergence of every replicate fit.
    backend
        Where the replicates ran: ``'cpu'``, ``'cuda…'``/``'torch…'`` or ``'dask'``.
    """

    ks: np.ndarray
    stability: np.ndarray
    error: np.ndarray
    n_kept: np.ndarray
    n_filtered: np.ndarray
    k: int
    usage: np.ndarray
    programs: np.ndarray
    gene_scores: np.ndarray
    replicates: ReplicateSet
    replicate_loss: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    backend: str
