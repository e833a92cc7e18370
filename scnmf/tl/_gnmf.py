"""``tl.gnmf``: graph-regularised NMF (Cai et al. 2011), the single-scale baseline."""

from __future__ import annotations

from typing import Literal

from anndata import AnnData
from scanpy import logging as logg

from .. import _keys as C
from .._core.graph.laplacian import knn_graph
from .._core.pnmf import fit_gnmf
from ._checks import check_adata, check_rank
from ._convergence import warn_unconverged
from ._docs import doc_adata, doc_common, doc_matrix_selection, doc_params
from ._matrix import (
    DEFAULT,
    get_matrix,
    guard_memory,
    mask_description,
    raw_gene_mask,
    representation,
    resolve_mask_var,
)
from ._programs import doc_add_to_obs, doc_obs_returns, doc_use_raw
from ._progress import progress_bar
from ._scale import check_magnitude, rescale_extreme, unscale, unscale_factor
from ._store import (
    activity_columns,
    add_activity_columns,
    added,
    check_finite_result,
    factor_slots,
    store,
)
from ._validate import GNMF_PARAMS


@doc_params(
    doc_adata=doc_adata, doc_matrix_selection=doc_matrix_selection, doc_common=doc_common,
    doc_use_raw=doc_use_raw, doc_add_to_obs=doc_add_to_obs, doc_obs_returns=doc_obs_returns,
)  # fmt: skip
def gnmf(
    adata: AnnData,
    n_components: int,
    *,
    lambda_graph: float = 1.0,
    n_neighbors: int = 5,
    weight: Literal["heat", "binary"] = "heat",
    use_rep: str | None = None,
    max_iter: int = 1000,
    tol: float = 1e-3,
    init: Literal["nndsvd", "nndsvda", "nndsvdar", "random"] = "nndsvda",
    device: str = "auto",
    layer: str | None = None,
    use_raw: bool = False,
    mask_var=DEFAULT,
    random_state: int | None = 0,
    key_added: str = C.GNMF_KEY,
    copy: bool = False,
    add_to_obs: bool = False,
) -> AnnData | None:
    """Graph-regularised NMF on a kNN cell graph (GNMF, Cai et al. 2011).

    Minimises ‖X − WH‖² + λ tr(Wᵀ L W) with W (cells × k) and H (k × genes) nonnegative and
    L = D − A the Laplacian of a symmetric kNN graph of the cells. In the paper's genes ×
    cells orientation the cell update is H ← H ∘ (WᵀX + λHA) ⊘ (WᵀWH + λHD). Programs are
    rescaled to unit norm before the first iteration (the graph term is not scale
    invariant), after which the objective decreases monotonically.

    Parameters
    ----------
    {doc_adata}
    n_components
        Rank k.
    lambda_graph
        λ, weight of the graph term.
    n_neighbors
        Neighbours per cell; an edge is kept when either cell lists the other.
    weight
        ``'heat'``: exp(−d²/σ²), σ² the mean squared kNN distance; ``'binary'``: 0/1.
    use_rep
        Representation the kNN graph is built on: ``'X'`` or an ``obsm`` key; by default
        ``'X_pca'`` when present, else ``adata.X``.
    max_iter
        Maximum number of iterations.
    tol
        Stop when the objective changes by at most ``tol`` relative to the previous one; a
        fit that reaches ``max_iter`` first logs a warning.
    init
        Initialisation.
    device
        ``'cpu'`` (numpy/numba engine), ``'cuda'`` (PyTorch on a GPU; ``pip install
        'scnmf[gpu]'``) or ``'auto'`` (a GPU when PyTorch sees one, else the CPU). Results
        are stored exactly as on the CPU and agree with it up to float32 rounding. When the
        matrix is a dask array, the fit runs as one task on one dask worker (the matrix is
        assembled there and must fit its memory; it never passes through this process) and
        ``device`` does not apply; the kNN graph is built in this process from ``use_rep``.
    {doc_matrix_selection}
    {doc_use_raw}
    {doc_common}
    {doc_add_to_obs}

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with

    ``adata.obsm['X_gnmf' | 'X_' + key_added]`` : :class:`numpy.ndarray` (n_obs × k)
        Cell embedding W.
    ``adata.varm['gnmf_loadings' | key_added + '_loadings']`` : :class:`numpy.ndarray`
        Gene loadings Hᵀ (n_vars × k); zero rows for genes left out.
    ``adata.uns['gnmf' | key_added]`` : :class:`dict`
        ``params``, ``loss`` (objective before the first and after each iteration),
        ``n_iter`` and ``converged``.
    {doc_obs_returns}

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.concentric_circles()
    >>> snmf.tl.gnmf(adata, 2, max_iter=50)
    >>> adata.obsm["X_gnmf"].shape
    (80, 2)
    """
    check_adata(adata)
    o = GNMF_PARAMS.validate(locals())
    lam, n_neighbors, max_iter, tol = o.lambda_graph, o.n_neighbors, o.max_iter, o.tol
    random_state = o.random_state
    mask = resolve_mask_var(adata, mask_var)
    # With use_raw, ``read`` selects adata.raw's columns and ``rows`` their adata.var rows.
    read, rows = raw_gene_mask(adata, layer, mask) if o.use_raw else (mask, mask)
    guard_memory(adata, layer, read, n_components, what="GNMF", use_raw=o.use_raw)
    X = get_matrix(adata, layer, read, use_raw=o.use_raw)
    k = check_rank(n_components, X.shape)
    columns = activity_columns(adata, key_added, k, o.add_to_obs)
    # f(sX, sW, H) = s² f(X, W, H) (H's rows at unit norm carry no scale), so λ keeps its
    # meaning on the rescaled data and only W and the objective are scaled back.
    X, scale = rescale_extreme(X)
    check_magnitude(
        X, scale, 2, what="GNMF objective", n_components=k,
        penalties={"lambda_graph": (lam, 2.0 * X.shape[0])},
    )  # fmt: skip
    rep, rep_name = representation(adata, use_rep)
    if adata.n_obs < 2:
        raise ValueError("GNMF needs at least two cells to build a graph.")

    start = logg.info(
        f"computing GNMF (k={k}, λ={lam:g}, {n_neighbors}-NN graph on {rep_name!r}) on "
        f"{X.shape[0]} cells × {X.shape[1]} genes"
    )
    A = knn_graph(rep, n_neighbors, weight=weight, random_state=random_state)
    with progress_bar(max_iter, "GNMF") as bar:

        def report(iteration: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

        result = fit_gnmf(
            X, A, k, lambda_graph=lam, max_iter=max_iter, tol=tol, init=init,
            random_state=random_state, device=device, callback=report,
        )  # fmt: skip
    check_finite_result(
        result.W, result.H, result.loss, hint="try a smaller lambda_graph or init='nndsvda'"
    )
    result.W = unscale_factor(result.W, scale, "cell embedding")
    result.loss = unscale(result.loss, scale, 2, "objective")
    params = {
        "n_components": k,
        "lambda_graph": lam,
        "n_neighbors": n_neighbors,
        "weight": weight,
        "use_rep": rep_name,
        "max_iter": max_iter,
        "tol": tol,
        "init": init,
        "layer": layer,
        "use_raw": o.use_raw,
        "mask_var": mask_description(mask_var),
        "random_state": random_state,
        "n_genes_used": int(X.shape[1]),
        "device": result.device,
    }
    slots = factor_slots(key_added, result, rows, adata.n_vars, params)
    stale = add_activity_columns(slots, adata, key_added, columns, result.W)
    target = store(adata, copy, drop_obs=stale, **slots)
    logg.info(
        f"    finished: {result.n_iter} iterations, final objective {result.loss[-1]:.6g}",
        time=start,
        deep=added(**slots),
    )
    warn_unconverged(
        "GNMF", converged=result.converged, max_iter=max_iter, tol=tol, loss=result.loss
    )
    return target if copy else None
