"""Synthetic counts with a planted two-level hierarchy of gene programs (for deep NMF)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

_GENE_MEAN_SIGMA = 1.0  # sd of log baseline expression
_N_MARKERS = 12  # marker genes per program (coarse and fine-specific), capped by n_genes
_MARKER_BOOST = 10.0  # marker loading relative to the gene's baseline
_LIBRARY_SIGMA = 0.4  # sd of log library size
_CHUNK = 10_000  # cells generated at once


def _program(rng, baseline: np.ndarray, markers: np.ndarray, background: float) -> np.ndarray:
    """A program: a weak share of every gene's baseline plus boosted markers; sums to one."""
    p = background * baseline * rng.gamma(2.0, 0.5, baseline.size)
    p[markers] += _MARKER_BOOST * baseline[markers] * rng.gamma(4.0, 0.25, markers.size)
    return p / p.sum()


def two_level_hierarchy(
    n_cells: int = 1000,
    n_genes: int = 500,
    n_coarse: int = 3,
    n_fine_per_coarse: int = 2,
    *,
    specificity: float = 0.3,
    leak: float = 0.1,
    purity: float = 8.0,
    mean_library: float = 2000.0,
    random_state: int | None = 0,
) -> ad.AnnData:
    """Simulate UMI counts whose fine cell programs are mixtures of coarse programs.

    Generative model (cells × genes):

    - ``n_coarse`` coarse programs ``P_c`` (genes, summing to one), each with its own marker
      genes, and one fine-specific program ``S_f`` per fine type with further markers.
    - Fine program ``f`` (child of coarse ``c``) is
      ``F_f = (1 − specificity) · Σ_c' M_fc' P_c' + specificity · S_f`` with mixing weights
      ``M_f`` putting ``1 − leak`` on its parent and ``leak`` spread over the other coarse
      programs: fine programs are mixtures of coarse ones plus their own signature, so a
      rank-``n_coarse`` factorisation of the fine programs groups siblings together.
    - Each cell belongs to one fine type (its parent is its coarse type); its activities
      over the fine programs are Dirichlet with concentration ``purity`` on its own program
      and 0.1 elsewhere; library size ``mean_library · LogNormal(0, 0.4)``; counts are
      Poisson with mean ``library · activities @ Fᵀ``.

    Parameters
    ----------
    n_cells, n_genes
        Matrix shape.
    n_coarse
        Number of coarse programs/types (≥ 2).
    n_fine_per_coarse
        Fine types per coarse type (≥ 2).
    specificity
        Weight of a fine program's own signature, in [0, 1).
    leak
        Weight of the non-parent coarse programs in a fine program's mixture, in [0, 1).
    purity
        Dirichlet concentration of a cell on its own fine program.
    mean_library
        Typical number of counts per cell.
    random_state
        Seed; the same seed gives identical data.

    Returns
    -------
    anndata.AnnData
        ``X``: float32 CSR counts (n_cells × n_genes); ``obs['fine']`` and ``obs['coarse']``:
        categorical types (``'A1'``, ``'A2'``, … and ``'A'``, ``'B'``, …);
        ``varm['fine_programs']`` (n_genes × n_fine) and ``varm['coarse_programs']``
        (n_genes × n_coarse); ``uns['two_level_hierarchy']``: ``mixing`` (n_fine × n_coarse,
        rows sum to one), ``parent`` (coarse index of each fine program) and the parameters.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.two_level_hierarchy(n_cells=300, n_genes=200)
    >>> adata.obs["fine"].nunique(), adata.obs["coarse"].nunique()
    (6, 3)
    """
    for name, value, low in (
        ("n_cells", n_cells, 1),
        ("n_genes", n_genes, 1),
        ("n_coarse", n_coarse, 2),
        ("n_fine_per_coarse", n_fine_per_coarse, 2),
    ):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}.")
    for name, value in (("specificity", specificity), ("leak", leak)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must lie in [0, 1), got {value!r}.")
    if purity <= 0 or mean_library <= 0:
        raise ValueError("purity and mean_library must be positive.")
    n_cells, n_genes = int(n_cells), int(n_genes)
    n_fine = n_coarse * n_fine_per_coarse
    n_markers = max(1, min(_N_MARKERS, n_genes // (n_coarse + n_fine + 1)))
    if n_markers * (n_coarse + n_fine) > n_genes:
        raise ValueError(f"n_genes={n_genes} is too small for {n_coarse + n_fine} programs.")

    structure_seed, count_seed = np.random.SeedSequence(random_state).spawn(2)
    rng = np.random.default_rng(structure_seed)
    baseline = rng.lognormal(0.0, _GENE_MEAN_SIGMA, n_genes)
    markers = rng.permutation(n_genes)[: n_markers * (n_coarse + n_fine)]
    markers = markers.reshape(n_coarse + n_fine, n_markers)
    coarse = np.stack([_program(rng, baseline, markers[c], 0.3) for c in range(n_coarse)], axis=1)
    specific = np.stack(
        [_program(rng, baseline, markers[n_coarse + f], 0.2) for f in range(n_fine)], axis=1
    )
    parent = np.repeat(np.arange(n_coarse), n_fine_per_coarse)
    mixing = np.full((n_fine, n_coarse), leak / (n_coarse - 1))
    mixing[np.arange(n_fine), parent] = 1.0 - leak
    fine = (1.0 - specificity) * coarse @ mixing.T + specificity * specific

    proportions = rng.dirichlet(np.full(n_fine, 20.0))
    labels = rng.choice(n_fine, size=n_cells, p=proportions)
    concentration = np.full((n_cells, n_fine), 0.1)
    concentration[np.arange(n_cells), labels] += purity
    activities = rng.gamma(concentration)
    activities /= activities.sum(axis=1, keepdims=True)
    library = mean_library * rng.lognormal(-0.5 * _LIBRARY_SIGMA**2, _LIBRARY_SIGMA, n_cells)
    weights = library[:, None] * activities

    count_rng = np.random.default_rng(count_seed)
    blocks = []
    fine_t = np.ascontiguousarray(fine.T)
    for start in range(0, n_cells, _CHUNK):
        counts = count_rng.poisson(weights[start : start + _CHUNK] @ fine_t)
        blocks.append(sp.csr_matrix(counts.astype(np.float32)))
    X = sp.vstack(blocks, format="csr")

    coarse_names = np.array([chr(ord("A") + c) if c < 26 else f"C{c}" for c in range(n_coarse)])
    fine_names = np.array(
        [f"{coarse_names[parent[f]]}{f % n_fine_per_coarse + 1}" for f in range(n_fine)]
    )
    obs = pd.DataFrame(
        {
            "fine": pd.Categorical(fine_names[labels], categories=fine_names),
            "coarse": pd.Categorical(coarse_names[parent[labels]], categories=coarse_names),
        },
        index=pd.Index([f"cell{i}" for i in range(n_cells)]),
    )
    var = pd.DataFrame(index=pd.Index([f"gene{j}" for j in range(n_genes)]))
    adata = ad.AnnData(X, obs=obs, var=var)
    adata.varm["fine_programs"] = fine.astype(np.float32)
    adata.varm["coarse_programs"] = coarse.astype(np.float32)
    adata.uns["two_level_hierarchy"] = {
        "mixing": mixing,
        "parent": parent.astype(np.int64),
        "n_coarse": n_coarse,
        "n_fine_per_coarse": int(n_fine_per_coarse),
        "specificity": float(specificity),
        "leak": float(leak),
        "purity": float(purity),
        "mean_library": float(mean_library),
        "random_state": int(random_state) if random_state is not None else "None",
    }
    return adata
