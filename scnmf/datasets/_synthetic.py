"""Synthetic scRNA-like counts with planted gene programs and cell types, generated as CSR."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import brentq

_LIBRARY_SIGMA = 0.5  # sd of log library size (lognormal), typical of droplet data
_GENE_MEAN_SIGMA = 1.5  # sd of log baseline gene expression: heavy-tailed gene means
_SUPPORT = 0.3  # chance that a non-marker gene belongs to a given program
_LOADING_SHAPE = 0.5  # gamma shape of within-program loadings (sparse-ish, skewed)
_MARKER_BOOST = 8.0  # marker genes: loading multiplied by this, zero in other programs
_ALPHA_BASE = 0.2  # Dirichlet concentration on every program
_ALPHA_CORE = 4.0  # extra concentration on a type's own program(s)
_PILOT_CELLS = 1000  # cells used to calibrate the density


def _programs(rng: np.random.Generator, n_genes: int, n_programs: int) -> np.ndarray:
    """Draw nonnegative gene programs with heavy-tailed gene levels and marker genes.

    Returns
    -------
    numpy.ndarray
        Genes × programs, float64, each column summing to one.
    """
    gene_mean = rng.lognormal(0.0, _GENE_MEAN_SIGMA, n_genes)
    support = rng.random((n_genes, n_programs)) < _SUPPORT
    loadings = rng.gamma(_LOADING_SHAPE, 1.0, (n_genes, n_programs)) * gene_mean[:, None]
    n_markers = int(min(20, max(1, n_genes // (10 * n_programs))))
    n_markers = min(n_markers, n_genes // n_programs)
    markers = rng.permutation(n_genes)[: n_markers * n_programs].reshape(n_programs, n_markers)
    for p in range(n_programs):
        genes = markers[p]
        support[genes, :] = False
        support[genes, p] = True
        loadings[genes, p] = _MARKER_BOOST * gene_mean[genes] * rng.gamma(2.0, 0.5, n_markers)
    orphans = np.flatnonzero(~support.any(axis=1))  # every gene is expressed somewhere
    support[orphans, rng.integers(0, n_programs, orphans.size)] = True
    programs = np.where(support, loadings, 0.0)
    return programs / programs.sum(axis=0, keepdims=True)


def _type_concentrations(n_types: int, n_programs: int) -> np.ndarray:
    """Dirichlet concentration over programs for each type (types × programs).

    Type ``t`` concentrates on program ``t mod k``; when there are more types than
    programs, types beyond the first ``k`` also load on a second program so every type
    has a distinct mixture. Programs not owned by any type stay shared background.

    Returns
    -------
    numpy.ndarray
        Types × programs array of positive concentrations.
    """
    alpha = np.full((n_types, n_programs), _ALPHA_BASE)
    for t in range(n_types):
        primary = t % n_programs
        alpha[t, primary] += _ALPHA_CORE
        if t >= n_programs and n_programs > 1:
            secondary = (primary + t // n_programs) % n_programs
            if secondary == primary:
                secondary = (primary + 1) % n_programs
            alpha[t, secondary] += _ALPHA_CORE / 2
    return alpha


def _expected_density(base: np.ndarray, scale: float) -> float:
    """Expected fraction of nonzeros of ``Poisson(scale * base)``.

    Returns
    -------
    float
        Mean over entries of ``1 - exp(-scale * base)``.
    """
    return float(-np.expm1(-scale * base).mean())


def _calibrate(base: np.ndarray, density: float) -> float:
    """Find the library scale giving the target expected density on the pilot rates.

    Returns
    -------
    float
        Scale ``s`` with ``_expected_density(base, s) == density`` (root of a monotone
        function of ``log s``, bracketed by steps of e² in ``s``).

    Raises
    ------
    ValueError
        If ``density`` is at or above the fraction of entries with a positive rate.
    """
    ceiling = float((base > 0).mean())
    if density >= ceiling:
        raise ValueError(
            f"density={density} is not reachable: at most {ceiling:.3f} of entries have a "
            "positive rate."
        )

    def gap(log_scale: float) -> float:
        return _expected_density(base, float(np.exp(log_scale))) - density

    lo, hi = 0.0, 0.0
    while gap(lo) > 0:
        lo -= 2.0
    while gap(hi) < 0:
        hi += 2.0
    if lo == hi:
        return 1.0
    return float(np.exp(brentq(gap, lo, hi, xtol=1e-6)))


def synthetic_counts(
    n_cells: int = 2000,
    n_genes: int = 1000,
    n_programs: int = 10,
    n_types: int = 5,
    density: float = 0.12,
    random_state: int | None = 0,
    chunk_size: int = 20000,
) -> ad.AnnData:
    """Simulate scRNA-seq-like UMI counts with planted gene programs and cell types.

    Generative model (AnnData orientation, cells × genes):

    - Gene programs ``P`` (genes × programs, columns sum to one): each gene has a
      heavy-tailed baseline level (lognormal); a program uses about 30% of genes with
      gamma(0.5)-distributed loadings scaled by that level, plus a few marker genes that
      are strongly loaded in that program only.
    - Each cell draws a type (``obs['label']``) from unequal proportions; each type has a
      Dirichlet concentration peaked on its own program(s), from which the cell's program
      mixture ``w_i`` is drawn.
    - Library size ``L_i = s * LogNormal(0, 0.5)`` and counts
      ``X_ig ~ Poisson(L_i * (w_i @ P.T)_g)``, so ``E[X] = true_weights @ true_programs.T``.

    **Density calibration.** The global scale ``s`` is chosen so that the *expected*
    fraction of nonzeros, ``mean(1 - exp(-λ_ig))`` evaluated on a pilot of up to 1000
    evenly spaced cells, equals ``density`` (root-finding in ``log s``). Scaling library
    sizes raises or lowers every rate together, which moves the fraction of zeros the way
    sequencing depth does. The realised density is stored in ``uns['synthetic']``.

    The matrix is generated in row chunks of ``chunk_size`` cells directly into CSR, so
    the dense rate and count arrays never exceed ``chunk_size × n_genes`` (about
    ``16 * chunk_size * n_genes`` bytes at peak). The counts come from their own random
    stream drawn in row order, so the result does not depend on ``chunk_size``.

    Parameters
    ----------
    n_cells, n_genes
        Matrix shape.
    n_programs
        Number of planted gene programs (NMF rank of the mean matrix).
    n_types
        Number of cell types.
    density
        Target fraction of nonzero entries, in ``(0, 1)``.
    random_state
        Seed for :func:`numpy.random.default_rng`; identical seeds give identical data.
    chunk_size
        Cells generated per chunk.

    Returns
    -------
    anndata.AnnData
        ``X``: float32 CSR counts (n_cells × n_genes); ``obs['label']``: categorical cell
        type (``'type0'``, ...); ``obsm['true_weights']``: n_cells × n_programs activities
        ``L_i * w_i``; ``varm['true_programs']``: n_genes × n_programs programs ``P``;
        ``uns['synthetic']``: generation parameters, the library ``scale`` and the
        expected and observed densities.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.synthetic_counts(n_cells=500, n_genes=300, density=0.1)
    >>> adata.X.shape
    (500, 300)
    """
    for name, value in (
        ("n_cells", n_cells),
        ("n_genes", n_genes),
        ("n_programs", n_programs),
        ("n_types", n_types),
        ("chunk_size", chunk_size),
    ):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if not 0.0 < density < 1.0:
        raise ValueError(f"density must lie in (0, 1), got {density!r}.")
    if n_genes < n_programs:
        raise ValueError("n_genes must be at least n_programs.")
    n_cells, n_genes, n_programs, n_types = map(int, (n_cells, n_genes, n_programs, n_types))
    chunk_size = int(chunk_size)

    structure_seed, count_seed = np.random.SeedSequence(random_state).spawn(2)
    rng = np.random.default_rng(structure_seed)
    programs = _programs(rng, n_genes, n_programs)

    proportions = rng.dirichlet(np.full(n_types, 4.0))
    labels = rng.choice(n_types, size=n_cells, p=proportions)
    alpha = _type_concentrations(n_types, n_programs)[labels]
    mixture = rng.gamma(alpha, 1.0)
    mixture /= np.maximum(mixture.sum(axis=1, keepdims=True), np.finfo(float).tiny)
    library = rng.lognormal(0.0, _LIBRARY_SIGMA, n_cells)

    pilot = np.unique(np.linspace(0, n_cells - 1, min(n_cells, _PILOT_CELLS)).astype(np.int64))
    base = (library[pilot, None] * mixture[pilot]) @ programs.T
    scale = _calibrate(base, density)
    expected = _expected_density(base, scale)
    weights = (scale * library)[:, None] * mixture  # n_cells × n_programs

    count_rng = np.random.default_rng(count_seed)
    programs_t = np.ascontiguousarray(programs.T)
    data, indices, row_nnz = [], [], []
    for start in range(0, n_cells, chunk_size):
        rates = weights[start : start + chunk_size] @ programs_t
        counts = count_rng.poisson(rates)
        del rates
        mask = counts > 0
        row_nnz.append(mask.sum(axis=1))
        indices.append(np.nonzero(mask)[1].astype(np.int32, copy=False))
        data.append(counts[mask].astype(np.float32))
        del counts, mask
    nnz_per_row = np.concatenate(row_nnz)
    nnz = int(nnz_per_row.sum())
    index_dtype = np.int32 if nnz < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n_cells + 1, dtype=index_dtype)
    np.cumsum(nnz_per_row, out=indptr[1:])
    X = sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices).astype(index_dtype, copy=False), indptr),
        shape=(n_cells, n_genes),
    )
    del data, indices

    type_names = np.array([f"type{t}" for t in range(n_types)])
    obs = pd.DataFrame(
        {"label": pd.Categorical(type_names[labels], categories=type_names)},
        index=pd.Index([f"cell{i}" for i in range(n_cells)]),
    )
    obs["label"] = obs["label"].cat.remove_unused_categories()
    var = pd.DataFrame(index=pd.Index([f"gene{j}" for j in range(n_genes)]))
    adata = ad.AnnData(X, obs=obs, var=var)
    adata.obsm["true_weights"] = weights.astype(np.float32)
    adata.varm["true_programs"] = programs.astype(np.float32)
    adata.uns["synthetic"] = {
        "n_cells": n_cells,
        "n_genes": n_genes,
        "n_programs": n_programs,
        "n_types": n_types,
        "density": float(density),
        "random_state": int(random_state) if random_state is not None else "None",
        "library_scale": scale,
        "library_sigma": _LIBRARY_SIGMA,
        "expected_density": expected,
        "observed_density": nnz / (n_cells * n_genes),
        "noise": "poisson",
    }
    return adata
