"""``tl.nmf``: β-NMF of a cells × genes matrix."""

from __future__ import annotations

from functools import partial
from typing import Literal

import numpy as np
from anndata import AnnData
from scanpy import logging as logg

from scnmf import _keys as C

from .._core._backends.dask import is_dask
from .._core._backends.torch import resolve_device
from .._core.nmf.hals import hals
from .._core.nmf.init import INIT_NAMES, initialize
from .._core.nmf.mu import mu
from .._core.nmf.ops_torch import torch_hals, torch_mu
from ._docs import doc_adata, doc_common, doc_matrix_selection, doc_params
from ._utils import (
    DEFAULT,
    check_adata,
    check_choice,
    check_finite_result,
    check_nonnegative,
    check_positive_int,
    check_random_state,
    check_rank,
    expand_loadings,
    get_matrix,
    guard_memory,
    h5ad_safe,
    mask_description,
    prepare_target,
    progress_bar,
    rescale_extreme,
    resolve_beta,
    resolve_mask_var,
)

SOLVERS: tuple[str, ...] = ("auto", "mu", "hals", "agd")
AGD_OPTIONS: tuple[str, ...] = (
    "n_stages",
    "n_inner",
    "alpha0",
    "decay",
    "step",
    "batch_size",
    "clip",
    "warm_start",
)


@doc_params(doc_adata=doc_adata, doc_matrix_selection=doc_matrix_selection, doc_common=doc_common)
def nmf(
    adata: AnnData,
    n_components: int,
    *,
    beta_loss: Literal["frobenius", "kullback-leibler", "itakura-saito"] | float = "frobenius",
    solver: Literal["auto", "mu", "hals", "agd"] = "auto",
    init: Literal["nndsvd", "nndsvda", "nndsvdar", "random", "custom"] = "nndsvda",
    max_iter: int = 200,
    tol: float = 1e-4,
    layer: str | None = None,
    mask_var=DEFAULT,
    random_state: int | None = 0,
    key_added: str = C.NMF_KEY,
    copy: bool = False,
    init_W: np.ndarray | None = None,
    init_H: np.ndarray | None = None,
    device: str = "auto",
    agd_options: dict | None = None,
) -> AnnData | None:
    """Nonnegative matrix factorisation with a β-divergence loss.

    Factorises the cells × genes matrix ``X ≈ W H``: ``W`` (cells × k) holds each cell's
    activity of the k programs, ``H`` (k × genes) the programs' gene loadings. Sparse input
    stays sparse: losses and updates evaluate ``WH`` only at the nonzeros. When the matrix
    is a dask array (chunked along cells), the fit runs as map/reduce over its blocks, on a
    ``dask.distributed`` cluster when a client is active.

    Parameters
    ----------
    {doc_adata}
    n_components
        Number of programs k, 1 ≤ k ≤ min(n_cells, n_genes).
    beta_loss
        ``'frobenius'`` (β = 2), ``'kullback-leibler'`` (β = 1, natural for counts),
        ``'itakura-saito'`` (β = 0; needs strictly positive data) or any β ≥ 0.
    solver
        ``'mu'`` multiplicative updates (any β), ``'hals'`` (Frobenius only, usually fastest),
        ``'agd'`` (Frobenius; alternating non-negative gradient descent of Li & Liang 2017,
        which recovers programs whose activities are strongly correlated: ``max_iter``
        HALS iterations as warm start, then the AGD stages), or ``'auto'``: HALS for
        Frobenius, MU otherwise.
    init
        ``'nndsvda'`` (default), ``'nndsvd'``, ``'nndsvdar'``, ``'random'`` or ``'custom'``
        (with ``init_W`` and ``init_H`` for the selected genes).
    max_iter
        Maximum number of iterations.
    tol
        Stop when the loss falls by less than ``tol`` relative to the previous iteration;
        ``tol=0`` runs exactly ``max_iter`` iterations.
    {doc_matrix_selection}
    {doc_common}
    init_W, init_H
        Initial factors for ``init='custom'``: cells × k and k × selected genes.
    agd_options
        Schedule of ``solver='agd'``: ``n_stages`` (100), ``n_inner`` (50 gradient steps per
        stage), ``alpha0`` (first threshold; default half the median positive decoded
        activity), ``decay`` (1.1), ``step`` (1.0 × 1/λ_max(WᵀW)), ``batch_size`` (None: full
        batch; an int: mini-batches of cells), ``clip`` (False; True clips programs to ≥ 0,
        a departure from the paper), ``warm_start`` ('hals' or 'mu').
    device
        ``'cpu'`` (numba engine), ``'cuda'`` (PyTorch on a GPU; ``pip install 'scnmf[gpu]'``)
        or ``'auto'`` (a GPU when PyTorch sees one). Dask arrays always run on their cluster.

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with

    ``adata.obsm['X_nmf' | 'X_' + key_added]`` : :class:`numpy.ndarray` (n_obs × k)
        Cell activities W.
    ``adata.varm['nmf_loadings' | key_added + '_loadings']`` : :class:`numpy.ndarray`
        Gene loadings Hᵀ (n_vars × k); zero rows for genes left out by ``mask_var``.
    ``adata.uns['nmf' | key_added]`` : :class:`dict`
        ``params`` (the call's settings), ``loss`` (objective before the first and after each
        iteration), ``n_iter`` and ``converged``. With ``solver='agd'`` the embedding is the
        final decoded weights φ_α(X H⁺), ``loss``/``n_iter`` count AGD stages, and ``uns``
        also holds ``alphas`` (threshold per stage) and ``warm_start_loss``.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 8, beta_loss="kullback-leibler", max_iter=50)
    >>> adata.obsm["X_nmf"].shape
    (700, 8)
    """
    check_adata(adata)
    beta = resolve_beta(beta_loss)
    check_choice(solver, "solver", SOLVERS)
    check_choice(init, "init", INIT_NAMES)
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    tol = check_nonnegative(tol, "tol")
    random_state = check_random_state(random_state)
    if not isinstance(key_added, str) or not key_added:
        raise ValueError("key_added must be a non-empty string.")
    device = resolve_device(device)
    if solver == "auto":
        solver = "hals" if beta == 2 else "mu"
    if solver in ("hals", "agd") and beta != 2:
        raise ValueError(
            f"solver={solver!r} minimises the Frobenius loss only (got β = {beta}); "
            "use solver='mu' for other β-divergences."
        )
    agd_options = _check_agd_options(agd_options, solver)
    mask = resolve_mask_var(adata, mask_var)
    guard_memory(adata, layer, mask, n_components)
    X = get_matrix(adata, layer, mask, allow_zeros=beta > 0)
    k = check_rank(n_components, X.shape)
    if solver == "agd" and is_dask(X):
        # Checked before the warm start so no distributed work is wasted.
        raise ValueError("solver='agd' runs in memory; compute the dask array first.")

    start = logg.info(
        f"computing NMF (k={k}, β={beta:g}, solver={solver!r}) on "
        f"{X.shape[0]} cells × {X.shape[1]} genes"
    )
    X, scale = rescale_extreme(X)
    if scale != 1.0 and init_W is not None:
        init_W = np.asarray(init_W) / scale
    W0, H0 = initialize(X, k, init, random_state, W=init_W, H=init_H)
    with progress_bar(max_iter, f"NMF ({solver})") as bar:

        def report(iteration: int, loss: float) -> None:
            if iteration:
                bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

        if is_dask(X):
            from .._core.nmf.ops_dask import dask_hals, dask_mu

            run_hals, run_mu = dask_hals, dask_mu
            device = "dask"
        elif device != "cpu":
            run_hals = partial(torch_hals, device=device)
            run_mu = partial(torch_mu, device=device)
        else:
            run_hals, run_mu = hals, mu
        if solver in ("hals", "agd") and agd_options.get("warm_start", "hals") == "hals":
            result = run_hals(X, W0, H0, max_iter=max_iter, tol=tol, callback=report)
        else:
            result = run_mu(X, W0, H0, beta=beta, max_iter=max_iter, tol=tol, callback=report)
    extra: dict = {}
    if solver == "agd":
        result, extra = _refine_agd(X, result, agd_options, random_state)

    if scale != 1.0:
        # β-divergences are homogeneous of degree β: D(sX | sWH) = s^β D(X | WH).
        result.W *= result.W.dtype.type(scale)
        result.loss = result.loss * scale**beta
    check_finite_result(result.W, result.H, hint="try init='nndsvda' or a smaller β")
    params = {
        "n_components": k,
        "beta_loss": beta,
        "solver": solver,
        "init": init,
        "max_iter": max_iter,
        "tol": tol,
        "layer": layer,
        "mask_var": mask_description(mask_var),
        "random_state": random_state,
        "n_genes_used": int(X.shape[1]),
        "device": device,
    }
    target = prepare_target(adata, copy)
    target.obsm[C.obsm_key(key_added)] = result.W
    target.varm[C.loadings_key(key_added)] = expand_loadings(result.H.T, mask, adata.n_vars)
    if solver == "agd":
        params["agd_options"] = agd_options
    target.uns[key_added] = {
        "params": h5ad_safe(params),
        "loss": np.asarray(result.loss, dtype=np.float64),
        "n_iter": int(result.n_iter),
        "converged": bool(result.converged),
        **extra,
    }
    logg.info(
        f"    finished: {result.n_iter} iterations, final loss {result.loss[-1]:.6g}",
        time=start,
        deep=(
            f"added\n    .obsm[{C.obsm_key(key_added)!r}], "
            f".varm[{C.loadings_key(key_added)!r}], .uns[{key_added!r}]"
        ),
    )
    return target if copy else None


def _check_agd_options(options: dict | None, solver: str) -> dict:
    if options is None:
        return {}
    if solver != "agd":
        raise ValueError("agd_options only applies to solver='agd'.")
    unknown = set(options) - set(AGD_OPTIONS)
    if unknown:
        raise ValueError(f"Unknown agd_options {sorted(unknown)}; use {list(AGD_OPTIONS)}.")
    if options.get("warm_start", "hals") not in ("hals", "mu"):
        raise ValueError("agd_options['warm_start'] must be 'hals' or 'mu'.")
    return dict(options)


def _refine_agd(X, warm, options: dict, random_state: int | None):
    """AGD stages from a HALS/MU warm start (AGD refines; from scratch it fails)."""
    from .._core.nmf.agd import agd

    settings = {k: v for k, v in options.items() if k != "warm_start"}
    n_stages = int(settings.get("n_stages", 100))
    with progress_bar(n_stages, "AGD stages") as bar:

        def report(stage: int, loss: float) -> None:
            if stage:
                bar.update(1)

        result = agd(X, warm.W, warm.H, random_state=random_state, callback=report, **settings)
    extra = {
        "alphas": np.asarray(result.alphas, dtype=np.float64),
        "alpha0": float(result.alpha0),
        "warm_start_loss": np.asarray(warm.loss, dtype=np.float64),
    }
    return result, extra
