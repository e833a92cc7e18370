"""``tl.consensus_nmf``: consensus gene programs over seeded NMF replicates, and choosing k."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from anndata import AnnData
from scanpy import logging as logg

from .. import _keys as C
from .._core.consensus import fit_consensus
from .._core.consensus.replicates import batch_size
from ._checks import check_adata, check_rank
from ._docs import doc_adata, doc_common, doc_params
from ._matrix import (
    DEFAULT,
    get_matrix,
    guard_memory,
    mask_description,
    raw_gene_mask,
    resolve_mask_var,
)
from ._programs import doc_add_to_obs, doc_obs_returns
from ._progress import progress_bar
from ._scale import check_magnitude, rescale_extreme, unscale
from ._store import (
    activity_columns,
    add_activity_columns,
    added,
    check_finite_result,
    h5ad_safe,
    store,
)
from ._validate import Solver
from ._validate_consensus import CONSENSUS_PARAMS

_doc_selection = """\
layer
    Factorise ``adata.layers[layer]`` instead of ``adata.X``.
use_raw
    Factorise ``adata.raw.X`` (not with ``layer``). Genes are matched to ``adata.var_names``
    by name; genes of ``adata`` absent from ``adata.raw`` get zero rows in ``varm``.
mask_var
    Genes the replicates factorise: a boolean array, a boolean column of ``adata.var``, or
    ``None`` for all genes. By default ``var['highly_variable']`` when present, else all
    genes. Programs of genes left out are stored as zeros; gene scores cover every gene."""


def _gene_rows(adata: AnnData, layer: str | None, mask: np.ndarray | None, use_raw: bool):
    """Columns to read (a mask over the source's genes) and the ``adata.var`` row of each."""
    if use_raw:
        return raw_gene_mask(adata, layer, mask)
    rows = np.arange(adata.n_vars) if mask is None else np.flatnonzero(mask)
    return mask, rows


def _full_length(values: np.ndarray, rows: np.ndarray, n_vars: int) -> np.ndarray:
    """Per-program values (k × m) at their ``adata.var`` rows of an n_vars × k array."""
    full = np.zeros((n_vars, values.shape[0]), dtype=np.float64)
    full[rows] = values.T
    return full


@doc_params(
    doc_adata=doc_adata, doc_selection=_doc_selection, doc_common=doc_common,
    doc_add_to_obs=doc_add_to_obs, doc_obs_returns=doc_obs_returns,
)  # fmt: skip
def consensus_nmf(
    adata: AnnData,
    n_components: int | Sequence[int],
    *,
    n_replicates: int = 100,
    beta_loss: Literal["frobenius", "kullback-leibler", "itakura-saito"] | float = "frobenius",
    solver: Literal["auto", "mu", "hals"] = "auto",
    init: Literal["random", "nndsvdar"] = "random",
    max_iter: int = 1000,
    tol: float = 1e-4,
    density_threshold: float = 0.5,
    local_neighborhood_size: float = 0.3,
    select: int | None = None,
    layer: str | None = None,
    use_raw: bool = False,
    mask_var=DEFAULT,
    random_state: int | None = 0,
    key_added: str = C.CONSENSUS_KEY,
    copy: bool = False,
    device: str = "auto",
    add_to_obs: bool = False,
) -> AnnData | None:
    """Consensus NMF (cNMF): stable gene programs from many seeded replicates, and k.

    For each k, ``n_replicates`` NMFs with different random starts are fitted (batched:
    each iteration reads the matrix once for all replicates of a k). Their programs are
    scaled to unit L2 norm; outliers are dropped by a local-density filter (the mean
    distance of a program to its ``local_neighborhood_size · n_replicates`` nearest other
    programs must be below ``density_threshold``); the rest are clustered by KMeans into k
    clusters, and each cluster's median, scaled to sum 1, is a consensus program. The
    usage of each cell is then refitted with the programs fixed and normalised to sum 1,
    and gene specificity scores are the coefficients of the z-scored genes regressed on
    the usage, as in cNMF (Kotliar et al. 2019).

    Choosing k: for every k tried, the stability is the silhouette of the KMeans clustering
    of all its replicate programs and the error the reconstruction error of its consensus
    (both without the density filter, as cNMF's k-selection plot; see
    :func:`scnmf.pl.k_selection`). The consensus stored is that of ``select``, by default
    the most stable k (largest stability; values within 1e-3 of it count as ties and the
    smallest such k wins).

    Parameters
    ----------
    {doc_adata}
    n_components
        The k to try: an integer or a sequence of integers ≥ 2 (e.g. ``range(5, 11)``),
        each at most min(n_cells, n_genes used).
    n_replicates
        Seeded NMF fits per k (≥ 2). The replicate seeds are the same for every k.
    beta_loss
        ``'frobenius'`` (β = 2, as cNMF), ``'kullback-leibler'`` (β = 1),
        ``'itakura-saito'`` (β = 0; strictly positive data) or any β ≥ 0.
    solver
        ``'hals'`` (Frobenius only), ``'mu'`` (any β), or ``'auto'``: HALS for Frobenius,
        MU otherwise. The usage refit uses the same solver.
    init
        ``'random'`` (as cNMF) or ``'nndsvdar'``; the deterministic NNDSVD starts are refused
        because every replicate would be the same fit.
    max_iter
        Maximum number of iterations of each replicate fit.
    tol
        Stop a replicate when its loss falls by less than ``tol`` relative to the previous
        iteration.
    density_threshold
        Outlier filter, in (0, 2]: replicate programs with a local density at or above it
        are dropped before clustering (2 keeps every program).
    local_neighborhood_size
        Fraction of ``n_replicates`` (in (0, 1]) that forms a program's neighbourhood in
        the density filter.
    select
        The k whose consensus is stored (one of ``n_components``), or ``None`` for the most
        stable k.
    {doc_selection}
    {doc_common}
    device
        ``'cpu'`` (numba engine), ``'cuda'`` (PyTorch on a GPU; ``pip install 'scnmf[gpu]'``)
        or ``'auto'`` (a GPU when PyTorch sees one). Dask arrays always run on their cluster,
        with batches of replicates as tasks.
    {doc_add_to_obs}
        Consensus NMF writes the usage of the stored k (``obsm['X_cnmf']``).

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with

    ``adata.obsm['X_cnmf' | 'X_' + key_added]`` : :class:`numpy.ndarray` (n_obs × k)
        float32 usage of the consensus programs, rows summing to 1 (a cell with no signal
        gets a zero row), programs ordered by total usage, largest first.
    ``adata.varm['cnmf_programs' | key_added + '_programs']`` : :class:`numpy.ndarray`
        Consensus programs (n_vars × k), columns summing to 1; zero rows for genes left out
        by ``mask_var`` (or absent from ``adata.raw``).
    ``adata.varm['cnmf_gene_scores' | key_added + '_gene_scores']`` : :class:`numpy.ndarray`
        Gene specificity scores (n_vars × k) of every gene (``mask_var`` not applied);
        constant genes score 0.
    ``adata.uns['cnmf' | key_added]`` : :class:`dict`
        ``params`` (the call's settings; ``n_components`` the ks tried, ``device`` where the
        replicates ran), ``k`` (the k stored), ``k_selection`` (``k``, ``stability``,
        ``error``, ``n_kept``, ``n_filtered``: one value per k tried), ``replicates``
        (of the stored k: ``local_density``, ``kept``, ``labels``, ``order``,
        ``correlation``, ``correlation_index``; see
        :func:`scnmf.pl.consensus_clustergram`), and ``replicate_loss``, ``n_iter``,
        ``converged`` (k tried × replicate arrays).
    {doc_obs_returns}

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.synthetic_counts(n_cells=200, n_genes=100, n_programs=4)
    >>> snmf.tl.consensus_nmf(adata, [3, 4, 5], n_replicates=4, max_iter=50)
    >>> adata.uns["cnmf"]["k_selection"]["k"]
    array([3, 4, 5])
    """
    check_adata(adata)
    o = CONSENSUS_PARAMS.validate(locals())
    beta, solver, ks = o.beta_loss, o.solver, o.n_components
    if solver == Solver.AUTO:
        solver = Solver.HALS.value if beta == 2 else Solver.MU.value
    mask = resolve_mask_var(adata, mask_var)
    fit_mask, fit_rows = _gene_rows(adata, layer, mask, o.use_raw)
    source = adata.raw.X if o.use_raw else adata.X if layer is None else adata.layers.get(layer)
    itemsize = 8 if getattr(source, "dtype", None) == np.float64 else 4
    # a batch of replicates is one stacked fit: its factors are batch_size fits wide
    copies = batch_size(adata.n_obs, ks[-1], o.n_replicates, itemsize)
    guard_memory(
        adata, layer, fit_mask, ks[-1], copies=copies, what="consensus NMF", use_raw=o.use_raw
    )
    X = get_matrix(adata, layer, fit_mask, allow_zeros=beta > 0, use_raw=o.use_raw)
    for k in ks:
        check_rank(k, X.shape)
    columns = activity_columns(adata, key_added, ks[-1], o.add_to_obs)  # the k is chosen later
    score_mask, score_rows = _gene_rows(adata, layer, None, o.use_raw)
    scores = None
    if fit_rows.size != score_rows.size:  # the gene scores cover every gene, not the mask
        scores = get_matrix(adata, layer, score_mask, use_raw=o.use_raw)

    start = logg.info(
        f"computing consensus NMF (k = {', '.join(map(str, ks))}; {o.n_replicates} replicates "
        f"each, β={beta:g}, solver={solver!r}) on {X.shape[0]} cells × {X.shape[1]} genes"
    )
    X, scale = rescale_extreme(X)
    check_magnitude(X, scale, beta, what=f"β-divergence (β={beta:g})")
    if scores is not None:  # z-scores do not depend on the data's scale
        scores = rescale_extreme(scores)[0]
    with progress_bar(o.n_replicates * len(ks), "consensus NMF replicates") as bar:
        fit = fit_consensus(
            X,
            ks,
            n_replicates=o.n_replicates,
            beta=beta,
            solver=solver,
            init=o.init,
            max_iter=o.max_iter,
            tol=o.tol,
            density_threshold=o.density_threshold,
            local_neighborhood_size=o.local_neighborhood_size,
            select=o.select,
            random_state=o.random_state,
            device=o.device,
            score_matrix=scores,
            callback=bar.update,
        )
    reps = fit.replicates
    check_finite_result(
        fit.usage, fit.programs, fit.gene_scores, fit.stability, fit.error,
        fit.replicate_loss, reps.local_density, reps.correlation,
        hint="try beta_loss='frobenius', more iterations or a smaller density_threshold",
    )  # fmt: skip
    # β-divergences are homogeneous of degree β: D(sX | sY) = s^β D(X | Y).
    error = unscale(fit.error, scale, beta, "consensus error")
    replicate_loss = unscale(fit.replicate_loss, scale, beta, "replicate loss")
    _report(fit, error, o.max_iter, o.tol)

    S = C.ConsensusUns
    keys = C.consensus_keys(key_added)
    params = {
        "n_components": np.asarray(ks, dtype=np.int64),
        "n_replicates": o.n_replicates,
        "beta_loss": beta,
        "solver": solver,
        "init": o.init,
        "max_iter": o.max_iter,
        "tol": o.tol,
        "density_threshold": o.density_threshold,
        "local_neighborhood_size": o.local_neighborhood_size,
        "select": o.select,
        "layer": layer,
        "use_raw": o.use_raw,
        "mask_var": mask_description(mask_var),
        "random_state": o.random_state,
        "n_genes_used": int(X.shape[1]),
        "device": fit.backend,
    }
    record = {
        S.PARAMS: h5ad_safe(params),
        S.K: int(fit.k),
        S.K_SELECTION: {
            S.K: np.asarray(fit.ks, dtype=np.int64),
            S.STABILITY: np.asarray(fit.stability, dtype=np.float64),
            S.ERROR: error,
            S.N_KEPT: np.asarray(fit.n_kept, dtype=np.int64),
            S.N_FILTERED: np.asarray(fit.n_filtered, dtype=np.int64),
        },
        S.REPLICATES: {
            S.LOCAL_DENSITY: np.asarray(reps.local_density, dtype=np.float64),
            S.KEPT: np.asarray(reps.kept, dtype=bool),
            S.LABELS: np.asarray(reps.labels, dtype=np.int64),
            S.ORDER: np.asarray(reps.order, dtype=np.int64),
            S.CORRELATION: np.asarray(reps.correlation, dtype=np.float32),
            S.CORRELATION_INDEX: np.asarray(reps.correlation_index, dtype=np.int64),
        },
        S.REPLICATE_LOSS: replicate_loss,
        S.N_ITER: np.asarray(fit.n_iter, dtype=np.int64),
        S.CONVERGED: np.asarray(fit.converged, dtype=bool),
    }
    slots = {
        "obsm": {keys.obsm: np.asarray(fit.usage, dtype=np.float32)},
        "varm": {
            keys.programs: _full_length(fit.programs, fit_rows, adata.n_vars),
            keys.gene_scores: _full_length(fit.gene_scores, score_rows, adata.n_vars),
        },
        "uns": {keys.uns: record},
    }
    usage = slots["obsm"][keys.obsm]
    stale = add_activity_columns(slots, adata, key_added, columns[: fit.k], usage)
    target = store(adata, copy, drop_obs=stale, **slots)
    logg.info(f"    finished: stored the consensus of k = {fit.k}", time=start, deep=added(**slots))
    return target if copy else None


def _report(fit, error: np.ndarray, max_iter: int, tol: float) -> None:
    """Log the k-selection table and warn once about replicates that hit ``max_iter``."""
    lines = [f"    {'k':>4} {'stability':>10} {'error':>12} {'kept':>6} {'filtered':>8}"]
    for i, k in enumerate(fit.ks):
        mark = "  <- selected" if int(k) == int(fit.k) else ""
        lines.append(
            f"    {int(k):>4} {fit.stability[i]:>10.4f} {error[i]:>12.6g} "
            f"{int(fit.n_kept[i]):>6} {int(fit.n_filtered[i]):>8}{mark}"
        )
    logg.info(f"    k selection (selected k = {int(fit.k)}):\n" + "\n".join(lines))
    converged = np.asarray(fit.converged, dtype=bool)
    stopped = int(converged.size - converged.sum())
    if stopped and tol > 0:  # with tol = 0 every fit runs max_iter on purpose
        logg.warning(
            f"{stopped} of {converged.size} replicate fits stopped at max_iter={max_iter} "
            "unconverged; raise max_iter"
        )
