"""``get.programs``: the top genes of every program as a long table, by loading or specificity."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as C
from ._results import Kind, Selection, invalid, is_int, loadings, names, select

#: Ranking methods of :func:`programs`.
METHODS: tuple[str, ...] = ("loading", "specificity")


def gene_specificity(loadings: np.ndarray) -> np.ndarray:
    """How specific each gene is to each program (genes × k in, genes × k out).

    With ``p[g, j] = loadings[g, j] / Σ_g loadings[g, j]`` the share of program j's total
    loading that sits on gene g, and ``q[g, j] = p[g, j] / Σ_l p[g, l]`` the part of gene g's
    (program-size-normalised) loading that program j holds, the score is

        s[g, j] = p[g, j] · (q[g, j] − max_{l ≠ j} q[g, l])  ∈ [−1, 1].

    The first factor is how much the program relies on the gene (ranking by it alone is
    ranking by loading); the second is the margin by which program j claims the gene over
    the next program. A gene taking the same share of every program (a housekeeping gene
    that tracks each program's total, such as MALAT1, B2M or ribosomal genes on raw counts)
    has q = 1/k everywhere and scores 0 for every program; a gene that only program j loads
    scores p[g, j]; a gene another program loads more scores below 0. Rescaling a program
    (the W·D, D⁻¹·H freedom of NMF) does not change the scores. With one program the margin
    is taken as 1 (scores are the shares); genes with no loading, and programs with no
    loading at all, score 0.

    Parameters
    ----------
    loadings
        Nonnegative, finite genes × programs matrix.

    Returns
    -------
    :class:`numpy.ndarray` (float64, same shape).

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # gene 0 in both programs
    >>> gene_specificity(L).round(3)
    array([[0. , 0. ],
           [0.5, 0. ],
           [0. , 0.5]])
    """
    L = np.asarray(loadings, dtype=np.float64)
    if L.ndim != 2 or L.shape[1] == 0:
        raise ValueError(f"loadings must be a genes × programs matrix; got shape {L.shape}.")
    if L.size and (not np.isfinite(L).all() or L.min() < 0):
        raise ValueError(
            "loadings must be finite and nonnegative (NMF programs); got "
            f"{'non-finite values' if not np.isfinite(L).all() else f'min {L.min():.3g}'}."
        )
    totals = L.sum(axis=0, keepdims=True)
    p = np.divide(L, totals, out=np.zeros_like(L), where=totals > 0)
    gene_totals = p.sum(axis=1, keepdims=True)
    q = np.divide(p, gene_totals, out=np.zeros_like(p), where=gene_totals > 0)
    if L.shape[1] == 1:
        return p * (gene_totals > 0)
    ordered = np.sort(q, axis=1)
    top, second = ordered[:, -1:], ordered[:, -2:-1]
    # The largest share among the *other* programs: the top one, or the runner-up for the
    # program holding the top (a tie at the top leaves a margin of 0, as it should).
    others = np.where(q >= top, second, top)
    return p * (q - others) + 0.0  # + 0.0 turns the −0.0 of a zero share into 0.0


def _check_n_genes(n_genes: Any, n_vars: int) -> int:
    """Genes per program: an integer ≥ 1 (all genes above ``n_vars``, as ``pl.loadings``)."""
    if n_genes is None:
        return n_vars
    if not is_int(n_genes) or n_genes < 1:
        raise invalid(
            "n_genes",
            n_genes,
            f"integers ≥ 1 (every gene above {n_vars}, the number of genes) or None (every "
            f"gene); pass e.g. n_genes={min(10, n_vars)}",
        )
    return min(int(n_genes), n_vars)


def _check_method(method: Any) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise invalid(
            "method",
            method,
            "'loading' or 'specificity'",
            "'loading' ranks genes by their weight in the program, 'specificity' by how much "
            "more the program loads them than any other program.",
        )
    return method


def _scores(adata: AnnData, sel: Selection, method: str) -> np.ndarray:
    """Every gene's score for every program of the selection (n_vars × k, float64)."""
    if method == "specificity" and sel.result.kind == Kind.CONSENSUS:
        # cNMF's own specificity: the z-scored genes regressed on the usage (stored by tl).
        return np.array(loadings(adata, sel, gene_scores=True), dtype=np.float64)
    values = loadings(adata, sel)
    if method == "specificity":
        return gene_specificity(values)
    return np.array(values, dtype=np.float64)


def programs(
    adata: AnnData,
    key: str = C.NMF_KEY,
    *,
    n_genes: int | None = 20,
    scale: int | None = None,
    layer: int | None = None,
    method: Literal["loading", "specificity"] = "loading",
) -> pd.DataFrame:
    """The top genes of every program as a long table, like ``sc.get.rank_genes_groups_df``.

    Parameters
    ----------
    adata
        AnnData holding a result of ``tl.nmf``, ``tl.gnmf``, ``tl.pnmf``, ``tl.deep_nmf`` or
        ``tl.consensus_nmf`` (or a plain genes × programs matrix in ``varm``).
    key
        The ``key_added`` of the result (``'<key>_l<ℓ>'`` of a deep NMF selects layer ℓ), or
        a ``varm`` key holding genes × programs.
    n_genes
        Genes per program: an integer ≥ 1 (every gene when it exceeds ``adata.n_vars``), or
        ``None`` for every gene.
    scale
        pNMF only: the scale (0 = finest); by default the result's reference scale.
    layer
        Deep NMF only: the layer, 1 (the finest, default) … L.
    method
        ``'loading'``: genes by their loading in the program (for consensus NMF: the
        consensus program, each summing to 1). ``'specificity'``: genes by how specific
        they are to the program (:func:`gene_specificity`), so genes that every program
        loads (housekeeping, ribosomal) do not top every list; for consensus NMF the
        stored cNMF gene scores (``varm['<key>_gene_scores']``, z-scored genes regressed
        on the usage) instead.

    Returns
    -------
    :class:`pandas.DataFrame` with one row per (program, gene) and columns ``program``
    (categorical, the program names of :func:`program_names`, in program order), ``gene``
    (from ``adata.var_names``), ``score`` (float64) and ``rank`` (1 = best), sorted by program
    then rank; ties keep the genes' order in ``adata.var_names``.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 5, max_iter=20)
    >>> snmf.get.programs(adata, n_genes=3).shape
    (15, 4)
    """
    method = _check_method(method)
    sel = select(adata, key, scale, layer)
    n = _check_n_genes(n_genes, adata.n_vars)
    values = _scores(adata, sel, method)
    order = np.argsort(-values, axis=0, kind="stable")[:n]  # n × k gene indices
    k = values.shape[1]
    genes = np.asarray(adata.var_names, dtype=object)
    program = pd.Categorical.from_codes(
        np.repeat(np.arange(k), n), categories=pd.Index(names(adata, sel), dtype=object)
    )
    return pd.DataFrame(
        {
            "program": program,
            "gene": genes[order.T.ravel()],
            "score": np.take_along_axis(values, order, axis=0).T.ravel(),
            "rank": np.tile(np.arange(1, n + 1, dtype=np.int64), k),
        }
    )
