"""Planted real gene programs with strongly correlated cell activities (AGD benchmarks)."""

from __future__ import annotations

from functools import lru_cache

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import ndtri

from ._files import bundled_path

#: File in the bundled ``datasets/`` folder holding the reference programs.
PROGRAMS_FILE = "pbmc68k_programs.npz"
#: Number of stored reference programs.
MAX_PROGRAMS = 20
#: Own-activity amplitude: Gamma(shape, scale) with mean 1.
_OWN_SHAPE, _OWN_SCALE = 2.0, 0.5
#: Largest admissible latent correlation (at 1 all programs switch on and off together).
MAX_CORRELATION = 0.99


@lru_cache(maxsize=1)
def _stored_programs() -> tuple[np.ndarray, tuple[str, ...]]:
    with np.load(bundled_path(PROGRAMS_FILE), allow_pickle=False) as data:
        return data["programs"].astype(np.float64), tuple(str(g) for g in data["genes"])


def reference_programs(n_programs: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Real gene programs: the ``n_programs`` most used of 20 learned on PBMC counts.

    The 20 programs were learned by KL-NMF (β = 1 multiplicative updates, NNDSVDa, seed 0,
    500 iterations) on the 700 × 765 integer UMI counts of
    :func:`scnmf.datasets.pbmc68k_counts` and are shipped as ``datasets/pbmc68k_programs.npz``
    (regenerate with ``datasets/make_pbmc68k_programs.py``; see ``datasets/PROVENANCE.md``).
    They are ordered by total activity over the cells.

    Parameters
    ----------
    n_programs
        Number of programs k (1 ≤ k ≤ 20).

    Returns
    -------
    programs, gene_names
        k × 765 float64 array (each program summing to one) and the 765 gene symbols.
    """
    if not 1 <= n_programs <= MAX_PROGRAMS:
        raise ValueError(f"n_programs must be between 1 and {MAX_PROGRAMS}.")
    programs, genes = _stored_programs()
    return programs[:n_programs].copy(), genes


def _genes(
    rng: np.random.Generator, programs: np.ndarray, names: tuple[str, ...], n_genes: int
) -> tuple[np.ndarray, list[str]]:
    """Restrict or extend the reference programs to ``n_genes`` genes (columns)."""
    m = programs.shape[1]
    if n_genes <= m:
        keep = np.sort(np.argsort(-programs.sum(axis=0), kind="stable")[:n_genes])
        return programs[:, keep], [names[j] for j in keep]
    # More genes than measured: resample real gene profiles with lognormal jitter, so the new
    # genes keep the joint shape of real loadings (same zero pattern, similar magnitudes).
    extra = rng.integers(0, m, n_genes - m)
    jitter = rng.lognormal(0.0, 0.5, (programs.shape[0], extra.size))
    new = programs[:, extra] * jitter
    names_new = [f"{names[j]}-sim{i}" for i, j in enumerate(extra)]
    return np.hstack([programs, new]), list(names) + names_new


def correlated_weights(
    rng: np.random.Generator, n_cells: int, n_programs: int, correlation: float, own_density: float
) -> np.ndarray:
    """Sparse activities whose on/off pattern mixes a shared component with own activity.

    Program ``j`` is active in cell ``i`` when its latent score
    ``√ρ · s_i + √(1 − ρ) · e_ij`` exceeds the threshold that makes a program active with
    probability ``own_density``; ``s_i ~ N(0, 1)`` is shared by all programs of the cell and
    ``e_ij ~ N(0, 1)`` is the program's own part (a Gaussian copula, like the correlated topic
    model of Li & Liang's experiments). Every cell keeps at least its highest-scoring program.
    Active entries get a Gamma(2, 0.5) amplitude (mean 1); inactive ones are exactly zero, so
    cells active in a single program exist at any ``ρ < 1`` and the factorisation stays
    identifiable.

    Parameters
    ----------
    rng
        Random generator.
    n_cells, n_programs
        Shape n × k.
    correlation
        Correlation ρ of the latent scores, in ``[0, MAX_CORRELATION]``. The Pearson
        correlation of the resulting weights is lower (about 0.4 at ρ = 0.8 with density 0.3).
    own_density
        Probability that a program is active in a cell, in ``(0, 1]``.

    Returns
    -------
    numpy.ndarray
        n × k nonnegative float64 weights.
    """
    shared = rng.standard_normal((n_cells, 1))
    own = rng.standard_normal((n_cells, n_programs))
    score = np.sqrt(correlation) * shared + np.sqrt(1.0 - correlation) * own
    active = score > ndtri(1.0 - own_density) if own_density < 1 else np.ones_like(score, bool)
    active[np.arange(n_cells), score.argmax(axis=1)] = True
    return active * rng.gamma(_OWN_SHAPE, _OWN_SCALE, (n_cells, n_programs))


def _mean_correlation(W: np.ndarray) -> float:
    """Mean off-diagonal Pearson correlation between the columns of ``W`` (0 if k < 2)."""
    if W.shape[1] < 2:
        return 0.0
    C = np.corrcoef(W.T)
    return float(np.nanmean(C[~np.eye(C.shape[0], dtype=bool)]))


def correlated_programs(
    n_cells: int = 2000,
    n_genes: int = 500,
    n_programs: int = 8,
    correlation: float = 0.8,
    noise: float = 0.0,
    random_state: int | None = 0,
    *,
    own_density: float = 0.3,
    depth: float = 1000.0,
) -> ad.AnnData:
    """Real gene programs mixed by strongly correlated cell activities, with known truth.

    The single-cell version of Li & Liang's (2017) semi-synthetic data: ``X = W* H* (+ noise)``
    with ``H*`` gene programs learned on real PBMC counts (see :func:`reference_programs`) and
    ``W*`` sparse activities whose on/off pattern combines a component shared by all programs
    of a cell with each program's own activity, with a tunable correlation.

    Parameters
    ----------
    n_cells
        Number of cells n.
    n_genes
        Number of genes m. Up to 765 the most loaded real genes are kept; beyond that, real
        gene profiles are resampled with lognormal jitter (named ``<gene>-sim<i>``).
    n_programs
        Number of programs k (1 to 20).
    correlation
        Correlation of the programs' latent activation scores (shared component vs own
        activity, see :func:`correlated_weights`), from 0 (independent sparse activities) to
        ``MAX_CORRELATION`` (0.99). The realised mean pairwise Pearson correlation of the
        weights is stored in ``uns['correlated_programs']['weight_correlation']``.
    noise
        Additive Gaussian noise with standard deviation ``noise`` times the root mean square
        of ``W* H*``, then clipped at zero; 0 gives the exact product.
    random_state
        Seed (weights, noise, extra genes).
    own_density
        Probability that a program is active in a cell (sparsity of the weights).
    depth
        Mean total signal per cell (counts scale): programs sum to one, weights are scaled
        so that the mean of ``Σ_j w_ij`` is ``depth``.

    Returns
    -------
    anndata.AnnData
        ``X``: CSR float32 cells × genes; ``varm['true_programs']``: genes × programs
        (columns sum to one); ``obsm['true_weights']``: cells × programs, so that
        ``X ≈ true_weights @ true_programs.T``; ``obs['dominant_program']``: categorical
        argmax of the weights; ``uns['correlated_programs']``: the parameters.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.correlated_programs(500, 200, 5, correlation=0.9)
    >>> adata.varm["true_programs"].shape
    (200, 5)
    """
    if not 0.0 <= correlation <= MAX_CORRELATION:
        raise ValueError(f"correlation must be in [0, {MAX_CORRELATION}].")
    if noise < 0:
        raise ValueError("noise must be nonnegative.")
    if not 0.0 < own_density <= 1.0:
        raise ValueError("own_density must be in (0, 1].")
    if n_cells < 1 or n_genes < 1:
        raise ValueError("n_cells and n_genes must be positive.")
    rng = np.random.default_rng(random_state)
    programs, names = reference_programs(int(n_programs))
    H, gene_names = _genes(rng, programs, names, int(n_genes))
    H = H / H.sum(axis=1, keepdims=True)
    W = correlated_weights(rng, int(n_cells), int(n_programs), correlation, own_density)
    W *= depth / W.sum(axis=1).mean()
    X = W @ H
    if noise > 0:
        sd = noise * float(np.sqrt(np.mean(X**2)))
        X = np.maximum(X + sd * rng.standard_normal(X.shape), 0.0)
    obs = pd.DataFrame(
        {
            "dominant_program": pd.Categorical(
                [f"P{j}" for j in W.argmax(axis=1)],
                categories=[f"P{j}" for j in range(n_programs)],
            )
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    adata = ad.AnnData(
        sp.csr_matrix(X.astype(np.float32)),
        obs=obs,
        var=pd.DataFrame(index=pd.Index(gene_names, dtype=str)),
    )
    adata.varm["true_programs"] = H.T.astype(np.float64)
    adata.obsm["true_weights"] = W.astype(np.float64)
    adata.uns["correlated_programs"] = {
        "n_programs": int(n_programs),
        "correlation": float(correlation),
        "noise": float(noise),
        "own_density": float(own_density),
        "depth": float(depth),
        "weight_correlation": _mean_correlation(W),
        "random_state": -1 if random_state is None else int(random_state),
        "source": "programs: KL-NMF of scnmf.datasets.pbmc68k_counts()",
    }
    return adata
