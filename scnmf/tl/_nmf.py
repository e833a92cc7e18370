"""``tl.nmf``: β-NMF of a cells × genes matrix."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Literal

import numpy as np
from anndata import AnnData
from scanpy import logging as logg

from .. import _keys as C
from .._core._backends import is_lazy
from .._core.nmf import fit_nmf
from ._checks import check_adata, check_rank
from ._convergence import warn_unconverged
from ._docs import doc_adata, doc_common, doc_matrix_selection, doc_params
from ._factors import check_custom_factors
from ._matrix import (
    DEFAULT,
    get_matrix,
    guard_memory,
    mask_description,
    raw_gene_mask,
    resolve_mask_var,
)
from ._penalty import fit_penalty, penalty_params
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
from ._validate import NMF_PARAMS, Solver


@doc_params(
    doc_adata=doc_adata, doc_matrix_selection=doc_matrix_selection, doc_common=doc_common,
    doc_use_raw=doc_use_raw, doc_add_to_obs=doc_add_to_obs, doc_obs_returns=doc_obs_returns,
)  # fmt: skip
def nmf(
    adata: AnnData,
    n_components: int,
    *,
    beta_loss: Literal["frobenius", "kullback-leibler", "itakura-saito"] | float = "frobenius",
    solver: Literal["auto", "mu", "hals", "agd"] = "auto",
    init: Literal["nndsvd", "nndsvda", "nndsvdar", "random", "custom"] = "nndsvda",
    max_iter: int = 200,
    tol: float = 1e-4,
    alpha_W: float = 0.0,
    alpha_H: float | Literal["same"] = "same",
    l1_ratio: float = 0.0,
    layer: str | None = None,
    use_raw: bool = False,
    mask_var=DEFAULT,
    random_state: int | None = 0,
    key_added: str = C.NMF_KEY,
    copy: bool = False,
    init_W: np.ndarray | None = None,
    init_H: np.ndarray | None = None,
    device: str = "auto",
    agd_options: dict | None = None,
    add_to_obs: bool = False,
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
        ``'agd'`` (Frobenius; alternating non-negative gradient descent of Li & Liang 2017:
        ``max_iter`` HALS iterations as warm start, then the AGD stages), or ``'auto'``:
        HALS for Frobenius, MU otherwise. AGD is kept as the paper's method, for study: on
        planted PBMC programs over weight correlation 0–0.95, two noise levels and sparse or
        dense weights (``benchmarks/results/agd_map.md``) it beat HALS nowhere, neither at
        matched iterations nor at matched time (its error 1.05–8.7× HALS's at matched
        time, 16 of 16 conditions); to recover programs, use ``'hals'``.
    init
        ``'nndsvda'`` (default), ``'nndsvd'``, ``'nndsvdar'``, ``'random'`` or ``'custom'``
        (with ``init_W`` and ``init_H`` for the selected genes).
    max_iter
        Maximum number of iterations.
    tol
        Stop when the loss falls by less than ``tol`` relative to the previous iteration;
        ``tol=0`` runs exactly ``max_iter`` iterations. A fit that reaches ``max_iter``
        first logs a warning (not with ``solver='agd'``, whose stages are a schedule).
    alpha_W, alpha_H, l1_ratio
        L1/L2 regularisation with scikit-learn's semantics (MU and HALS; not AGD): the fit
        minimises D_β(X | WH) + l1_W ΣW + ½ l2_W ‖W‖² + l1_H ΣH + ½ l2_H ‖H‖² with
        l1_W = m α_W ρ, l2_W = m α_W (1 − ρ), l1_H = n α_H ρ, l2_H = n α_H (1 − ρ) for n
        cells, m genes used and ρ = ``l1_ratio`` (0: ridge, 1: lasso, which makes programs
        and activities sparse). ``alpha_W`` ≥ 0 weights the activities W, ``alpha_H`` ≥ 0
        (``'same'``: ``alpha_W``) the programs H; 0 is no penalty.
    {doc_matrix_selection}
    {doc_use_raw}
    {doc_common}
    init_W, init_H
        Initial factors for ``init='custom'`` (both required, and refused with any other
        ``init``): cells × k and k × selected genes, finite, nonnegative, and no program
        all zeros (a zero program never moves, so it would be stored as converged).
    agd_options
        Schedule of ``solver='agd'``: ``n_stages`` (100), ``n_inner`` (50 gradient steps per
        stage), ``alpha0`` (first threshold; default half the median positive decoded
        activity; a number ≥ 0), ``decay`` (1.1; > 1), ``step`` (1.0 × 1/λ_max(WᵀW); in
        (0, 2)), ``batch_size`` (None: full batch; an int ≥ 1: mini-batches of cells),
        ``n_stages`` (an int ≥ 0), ``n_inner`` (an int ≥ 1), ``clip`` (False; True clips
        programs to ≥ 0 after every step, a departure from the paper), ``warm_start``
        ('hals' or 'mu'). Every value is checked before the fit.
    device
        ``'cpu'`` (numba engine), ``'cuda'`` (PyTorch on a GPU; ``pip install 'scnmf[gpu]'``)
        or ``'auto'`` (a GPU when PyTorch sees one). Dask arrays always run on their cluster.
    {doc_add_to_obs}

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with

    ``adata.obsm['X_nmf' | 'X_' + key_added]`` : :class:`numpy.ndarray` (n_obs × k)
        Cell activities W.
    ``adata.varm['nmf_loadings' | key_added + '_loadings']`` : :class:`numpy.ndarray`
        Gene loadings Hᵀ (n_vars × k); zero rows for genes left out by ``mask_var``.
    ``adata.uns['nmf' | key_added]`` : :class:`dict`
        ``params`` (the call's settings, with ``alpha_W``, ``alpha_H`` resolved to a number,
        and ``l1_ratio``), ``loss`` (the objective before the first and after each
        iteration: the β-divergence plus the penalty when ``alpha_W``/``alpha_H`` > 0; the
        stopping rule reads the same quantity), ``n_iter`` and ``converged``. With
        ``solver='agd'`` the embedding is the final decoded weights φ_α(X H⁺),
        ``loss``/``n_iter`` count AGD stages, and ``uns`` also holds ``alphas`` (threshold
        per stage) and ``warm_start_loss``. AGD leaves its programs unconstrained during the
        stages (as Li & Liang do); the stored loadings are these programs with negative
        entries set to 0 (the log says how many), the embedding is decoded from the stored
        loadings, and ``loss[-1]`` is the loss of exactly the stored pair.
    {doc_obs_returns}

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> snmf.tl.nmf(adata, 8, beta_loss="kullback-leibler", max_iter=50)
    >>> adata.obsm["X_nmf"].shape
    (700, 8)
    """
    check_adata(adata)
    o = NMF_PARAMS.validate(locals())
    beta, solver, init, max_iter, tol = o.beta_loss, o.solver, o.init, o.max_iter, o.tol
    random_state, agd_options = o.random_state, o.agd_options
    if solver == Solver.AUTO:
        solver = Solver.HALS.value if beta == 2 else Solver.MU.value
    mask = resolve_mask_var(adata, mask_var)
    # With use_raw, ``read`` selects adata.raw's columns and ``rows`` their adata.var rows.
    read, rows = raw_gene_mask(adata, layer, mask) if o.use_raw else (mask, mask)
    n_genes = int(read.sum()) if read is not None else adata.n_vars
    init_W, init_H = check_custom_factors(
        init, init_W, init_H, o.n_components, (adata.n_obs, n_genes)
    )
    guard_memory(adata, layer, read, o.n_components, use_raw=o.use_raw)
    X = get_matrix(adata, layer, read, allow_zeros=beta > 0, use_raw=o.use_raw)
    k = check_rank(o.n_components, X.shape)
    columns = activity_columns(adata, key_added, k, o.add_to_obs)
    if solver == "agd" and is_lazy(X):
        # Checked before the warm start so no distributed work is wasted.
        raise ValueError("solver='agd' runs in memory; compute the dask array first.")

    start = logg.info(
        f"computing NMF (k={k}, β={beta:g}, solver={solver!r}) on "
        f"{X.shape[0]} cells × {X.shape[1]} genes"
    )
    X, scale = rescale_extreme(X)
    check_magnitude(X, scale, beta, what=f"β-divergence (β={beta:g})")
    penalty = fit_penalty(
        o.alpha_W, o.alpha_H, o.l1_ratio, X.shape, scale=scale, beta=beta, dtype=X.dtype,
        n_components=k,
    )  # fmt: skip
    fit_agd_options = agd_options
    if scale != 1.0:  # what is in the data's units is fitted in the rescaled units
        if init_W is not None:  # in float64: W / 1e-40 overflows float32
            init_W = np.asarray(init_W, dtype=np.float64) / scale
        if agd_options and agd_options.get("alpha0") is not None:
            fit_agd_options = {**agd_options, "alpha0": agd_options["alpha0"] / scale}
    with ExitStack() as bars:
        bar = bars.enter_context(progress_bar(max_iter, f"NMF ({solver})"))
        stage_bar = []

        def report(iteration: int, loss: float) -> None:
            if iteration:
                bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

        def report_stage(stage: int, loss: float) -> None:
            if not stage_bar:  # the AGD stages follow the warm start
                bar.close()
                n_stages = int((agd_options or {}).get("n_stages", 100))
                stage_bar.append(bars.enter_context(progress_bar(n_stages, "AGD stages")))
            if stage:
                stage_bar[0].update(1)

        fit = fit_nmf(
            X,
            k,
            beta=beta,
            solver=solver,
            init=init,
            max_iter=max_iter,
            tol=tol,
            random_state=random_state,
            W=init_W,
            H=init_H,
            device=device,
            agd_options=fit_agd_options,
            penalty=penalty,
            callback=report,
            stage_callback=report_stage,
        )
    result, device = fit.result, fit.backend
    extra: dict = {}
    if solver == "agd" and getattr(result, "n_clipped", 0):
        logg.info(
            f"    AGD left {result.n_clipped} negative program entries (min "
            f"{result.min_unclipped:.3g}); they were set to 0 before decoding the activities"
        )
    if solver == "agd":
        extra = {
            C.NmfUns.ALPHAS: fit.extra["alphas"],
            C.NmfUns.ALPHA0: fit.extra["alpha0"],
            C.NmfUns.WARM_START_LOSS: fit.extra["warm_start_loss"],
        }

    hint = "try init='nndsvda' or a smaller β"
    check_finite_result(result.W, result.H, result.loss, *extra.values(), hint=hint)
    # Back to the data's units. β-divergences are homogeneous of degree β:
    # D(sX | sWH) = s^β D(X | WH); W (and AGD's thresholds on it) carry the scale.
    result.W = unscale_factor(result.W, scale, "cell activities")
    result.loss = unscale(result.loss, scale, beta, "loss")
    if extra:
        extra[C.NmfUns.ALPHAS] = unscale(extra[C.NmfUns.ALPHAS], scale, 1, "AGD thresholds")
        extra[C.NmfUns.ALPHA0] = float(unscale(extra[C.NmfUns.ALPHA0], scale, 1, "alpha0"))
        extra[C.NmfUns.WARM_START_LOSS] = unscale(
            extra[C.NmfUns.WARM_START_LOSS], scale, beta, "warm-start loss"
        )
    params = {
        "n_components": k,
        "beta_loss": beta,
        "solver": solver,
        "init": init,
        "max_iter": max_iter,
        "tol": tol,
        **penalty_params(o.alpha_W, o.alpha_H, o.l1_ratio),
        "layer": layer,
        "use_raw": o.use_raw,
        "mask_var": mask_description(mask_var),
        "random_state": random_state,
        "n_genes_used": int(X.shape[1]),
        "device": device,
    }
    if solver == Solver.AGD:
        params["agd_options"] = agd_options
    slots = factor_slots(key_added, result, rows, adata.n_vars, params, **extra)
    stale = add_activity_columns(slots, adata, key_added, columns, result.W)
    target = store(adata, copy, drop_obs=stale, **slots)
    logg.info(
        f"    finished: {result.n_iter} iterations, final loss {result.loss[-1]:.6g}",
        time=start,
        deep=added(**slots),
    )
    if solver != Solver.AGD:  # AGD's stages are a schedule, not a convergence test
        warn_unconverged(
            "NMF", converged=result.converged, max_iter=max_iter, tol=tol, loss=result.loss
        )
    return target if copy else None
