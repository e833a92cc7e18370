"""``tl.deep_nmf``: deep β-NMF of a cells × genes matrix (hierarchy of gene programs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from scanpy import logging as logg

from .. import _keys as C
from .._core._backends._threads import single_threaded_blas
from .._core.deep import fit_deep
from ._checks import check_adata, check_ranks
from ._convergence import warn_unconverged
from ._docs import doc_adata, doc_common, doc_matrix_selection, doc_params
from ._matrix import (
    DEFAULT,
    get_matrix,
    guard_memory,
    mask_description,
    raw_gene_mask,
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
    expand_loadings,
    h5ad_safe,
    store,
)
from ._validate import DEEP_NMF_PARAMS


@doc_params(
    doc_adata=doc_adata, doc_matrix_selection=doc_matrix_selection, doc_common=doc_common,
    doc_use_raw=doc_use_raw, doc_add_to_obs=doc_add_to_obs, doc_obs_returns=doc_obs_returns,
)  # fmt: skip
def deep_nmf(
    adata: AnnData,
    ranks: Sequence[int],
    *,
    beta_loss: Literal["kullback-leibler", "frobenius"] | float = "kullback-leibler",
    min_volume: bool = False,
    alpha: float = 0.05,
    delta: float = 1.0,
    n_init_iter: int = 500,
    max_iter: int = 500,
    tol: float = 1e-6,
    multilayer_baseline: bool = False,
    device: str = "auto",
    layer: str | None = None,
    use_raw: bool = False,
    mask_var=DEFAULT,
    random_state: int | None = 0,
    key_added: str = C.DEEP_NMF_KEY,
    copy: bool = False,
    add_to_obs: bool = False,
) -> AnnData | None:
    """Deep β-NMF: a hierarchy of gene programs, each layer merging the previous one's.

    Factorises genes × cells as ``Xᵀ ≈ W_1 H_1``, ``W_1 ≈ W_2 H_2``, …, with ranks
    r_1 > r_2 > …, minimising the layer-centric loss Σ_ℓ λ_ℓ D_β(W_(ℓ−1) | W_ℓ H_ℓ)
    (Leplat, Hien, Onwunta & Gillis 2024). ``W_ℓ`` are gene programs, ``H_ℓ … H_1`` the cell
    activities of layer ℓ and ``H_ℓ`` (r_ℓ × r_(ℓ−1)) says which layer-(ℓ−1) programs merge
    into which layer-ℓ program. Rows of every ``H_ℓ`` sum to one (Algorithm 1) or, with
    ``min_volume=True``, columns of every ``W_ℓ`` do and a volume penalty
    α_ℓ log det(W_ℓᵀW_ℓ + δI) sharpens the programs (Algorithm 2). λ_ℓ (and α_ℓ) are
    calibrated on a multilayer initialisation. Sparse input stays sparse; layer 1 can run
    on a GPU (``device``) or, for a dask-backed matrix, as map/reduce on a dask cluster.

    Parameters
    ----------
    {doc_adata}
    ranks
        Strictly decreasing ranks (r_1, r_2, …), r_1 ≤ min(n_cells, n_genes).
    beta_loss
        ``'kullback-leibler'`` (β = 1, natural for counts), 1.5, or ``'frobenius'`` (β = 2).
    min_volume
        Minimum-volume deep KL-NMF (β = 1 only).
    alpha
        α̃: initial ratio of each layer's volume term to its weighted data term.
    delta
        δ of the volume term.
    n_init_iter
        β-MU iterations per layer of the multilayer initialisation.
    max_iter
        Maximum number of sweeps over the layers.
    tol
        Stop when the objective falls by less than ``tol`` relative to the previous sweep;
        a fit that reaches ``max_iter`` sweeps first logs a warning.
    multilayer_baseline
        Also fit a plain multilayer β-NMF with ``n_init_iter + max_iter`` iterations per layer
        from the same random starts and store its per-layer errors, the reference for "how
        much better is deep than layer-by-layer" (:func:`scnmf.pl.layer_errors`). Off by
        default: it costs ``max_iter`` extra layer-1 iterations (about a third of the run at
        the defaults) and changes none of the stored factors. Turn it on to reproduce the
        paper's comparison.
    device
        Where layer 1 runs: ``'cpu'`` (numba engine), ``'cuda'`` (PyTorch on a GPU;
        ``pip install 'scnmf[gpu]'``) or ``'auto'`` (a GPU when PyTorch sees one). A dask
        matrix always runs on its cluster. See Notes.
    {doc_matrix_selection}
    {doc_use_raw}
    {doc_common}
    {doc_add_to_obs}
        Deep NMF writes every layer's, ``obs['<key>_l<ℓ>_<j>']`` (``'deep_nmf_l1_0'`` …),
        beside the dominant-program column ``obs['<key>_l<ℓ>']``.

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with, for every layer ℓ = 1…L,

    ``adata.obsm['X_deep_nmf_l{{ℓ}}' | 'X_' + key_added + '_l{{ℓ}}']`` : :class:`numpy.ndarray`
        Cell activities of layer ℓ, ``(H_ℓ … H_1)ᵀ`` (n_obs × r_ℓ); every column sums to one
        (Algorithm 1) and ``obsm @ varmᵀ`` approximates the data at every layer.
    ``adata.varm['deep_nmf_l{{ℓ}}' | key_added + '_l{{ℓ}}']`` : :class:`numpy.ndarray`
        Gene programs ``W_ℓ`` (n_vars × r_ℓ); zero rows for genes left out by ``mask_var``.
    ``adata.obs['deep_nmf_l{{ℓ}}' | key_added + '_l{{ℓ}}']`` : categorical
        Dominant program of each cell at layer ℓ: the program contributing most expected
        counts (activity × program total), categories ``'0'`` … ``str(r_ℓ − 1)``.
    ``adata.uns['deep_nmf' | key_added]`` : :class:`dict`
        ``ranks`` (L,); ``params``; ``H``: dict ``{{'2': H_2, …, 'L': H_L}}`` of merge matrices
        (r_ℓ × r_(ℓ−1); ``H_1`` is ``obsm[…_l1]ᵀ``); ``errors``: ``{{'deep': (L,),
        'multilayer': (L,)}}`` unweighted D_β(W_(ℓ−1) | W_ℓ H_ℓ) per layer (``multilayer``
        only with ``multilayer_baseline=True``); ``loss`` (objective after the initialisation
        and each sweep); ``layer_loss`` (n_sweeps + 1 × L); ``lambdas``; ``alphas``;
        ``n_iter``; ``converged``.
    {doc_obs_returns}

    Notes
    -----
    Only layer 1 touches the data (cells × genes, large and usually sparse); the deeper
    layers factorise the small genes × r_(ℓ−1) programs of the layer above. What runs where:

    * ``device='cpu'``: everything in host memory; layer 1 with the engine's numba kernels
      (``WH`` only at the nonzeros of sparse data for KL).
    * ``device='cuda'``: the data go to the GPU once (CSR when sparse; for KL ``WH`` is
      evaluated only at the nonzeros with ``torch.sparse.sampled_addmm``). The layer-1
      multilayer initialisation and baseline runs, the layer-1 β-MU terms and the updates of
      the cell activities ``H_1`` run on the GPU, where ``H_1`` stays. The update of the
      layer-1 programs ``W_1`` (Wright omega / ADMM, genes × r_1) and every deeper layer run
      in numpy on the host: only gene-sized arrays cross the bus each sweep.
    * dask-backed matrix (cells chunked, all genes in one chunk, dense or CSR chunks): the
      layer-1 work is a map/reduce over the cell blocks, on the active
      ``dask.distributed`` client or else the local scheduler. Each block updates its own
      cells' activities (and, in the multilayer initialisation, its rows of the cell
      factor); the ``W_1`` update is computed on the driver from the ratios summed over the
      blocks; deeper layers run on the driver. ``H_1`` stays with the blocks on the
      workers until the end, when the activities are gathered to be stored.

    All three give the same result within floating-point tolerance, stored identically
    (numpy arrays in the data's dtype); ``uns[key_added]['params']['device']`` records
    ``'cpu'``, ``'cuda'`` or ``'dask'``.

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.two_level_hierarchy(n_cells=300, n_genes=200)
    >>> snmf.tl.deep_nmf(adata, (6, 3), n_init_iter=100, max_iter=100)
    >>> adata.obsm["X_deep_nmf_l2"].shape
    (300, 3)
    """
    check_adata(adata)
    o = DEEP_NMF_PARAMS.validate(locals())
    beta, min_volume, alpha, delta = o.beta_loss, o.min_volume, o.alpha, o.delta
    n_init_iter, max_iter, tol = o.n_init_iter, o.max_iter, o.tol
    multilayer_baseline, random_state = o.multilayer_baseline, o.random_state
    mask = resolve_mask_var(adata, mask_var)
    # With use_raw, ``read`` selects adata.raw's columns and ``rows`` their adata.var rows.
    read, rows = raw_gene_mask(adata, layer, mask) if o.use_raw else (mask, mask)
    guard_memory(adata, layer, read, o.ranks[0], copies=2, what="deep NMF", use_raw=o.use_raw)
    X = get_matrix(adata, layer, read, use_raw=o.use_raw)
    ranks = check_ranks(o.ranks, X.shape)
    columns = activity_columns(adata, key_added, ranks, o.add_to_obs, layers=True)
    X, scale = rescale_extreme(X)
    check_magnitude(X, scale, beta, what=f"β-divergence (β={beta:g})")

    start = logg.info(
        f"computing deep NMF (ranks={ranks}, β={beta:g}, min_volume={min_volume}) on "
        f"{X.shape[0]} cells × {X.shape[1]} genes"
    )
    total = n_init_iter + max_iter + (max_iter if multilayer_baseline else 0)
    with progress_bar(total, "deep NMF") as bar, single_threaded_blas(X):

        def report(phase: str, step: int, value: float) -> None:
            if step:
                bar.update(1)
            bar.set_postfix(phase=phase, value=f"{value:.4g}", refresh=False)

        # The solver works in the paper's genes × cells orientation; X.T of a CSR is a CSC
        # view whose transpose the solver turns back into the CSR it started as (no copy).
        # The core picks the backend (dask for a dask matrix, else ``device``) and reports it.
        result = fit_deep(
            X.T,
            ranks,
            beta=beta,
            min_volume=min_volume,
            alpha=alpha,
            delta=delta,
            n_init_iter=n_init_iter,
            max_iter=max_iter,
            tol=tol,
            random_state=random_state,
            baseline=multilayer_baseline,
            callback=report,
            device=device,
        )
    _finite_and_unscaled(result, scale, beta, min_volume)

    dtype = np.dtype(X.dtype)
    L = len(ranks)
    keys, U = C.deep_keys(key_added), C.DeepUns
    errors = {U.DEEP: np.asarray(result.errors, dtype=np.float64)}
    if result.multilayer_errors is not None:
        errors[U.MULTILAYER] = np.asarray(result.multilayer_errors, dtype=np.float64)
    params = {
        "ranks": np.asarray(ranks, dtype=np.int64),
        "beta_loss": beta,
        "min_volume": bool(min_volume),
        "alpha": alpha,
        "delta": delta,
        "n_init_iter": n_init_iter,
        "max_iter": max_iter,
        "tol": tol,
        "multilayer_baseline": bool(multilayer_baseline),
        "layer": layer,
        "use_raw": o.use_raw,
        "mask_var": mask_description(mask_var),
        "random_state": random_state,
        "n_genes_used": int(X.shape[1]),
        "device": result.device,
    }
    obsm, varm, obs = {}, {}, {}
    for ell in range(1, L + 1):
        act = result.activities(ell).T  # cells × r_ℓ
        programs = result.W[ell - 1]  # genes × r_ℓ
        contribution = act * programs.sum(axis=0)[None, :]
        categories = [str(k) for k in range(ranks[ell - 1])]
        obsm[keys.obsm(ell)] = act.astype(dtype)
        varm[keys.varm(ell)] = expand_loadings(programs.astype(dtype), rows, adata.n_vars)
        obs[keys.obs(ell)] = pd.Categorical.from_codes(
            np.argmax(contribution, axis=1), categories=categories
        )
    uns = {
        U.RANKS: np.asarray(ranks, dtype=np.int64),
        U.PARAMS: h5ad_safe(params),
        U.H: {str(ell): np.asarray(result.H[ell - 1]) for ell in range(2, L + 1)},
        U.ERRORS: errors,
        U.LOSS: np.asarray(result.loss, dtype=np.float64),
        U.LAYER_LOSS: np.asarray(result.layer_loss, dtype=np.float64),
        U.LAMBDAS: np.asarray(result.lambdas, dtype=np.float64),
        U.ALPHAS: np.asarray(result.alphas, dtype=np.float64),
        U.N_ITER: int(result.n_iter),
        U.CONVERGED: bool(result.converged),
    }
    # Everything is computed; only now touch the target (AnnData unchanged on any error).
    slots = {"obsm": obsm, "varm": varm, "obs": obs, "uns": {keys.uns: uns}}
    every_layer = np.hstack([obsm[keys.obsm(ell)] for ell in range(1, L + 1)])
    stale = add_activity_columns(slots, adata, key_added, columns, every_layer)
    target = store(adata, copy, drop_obs=stale, **slots)
    ratio = ""
    if U.MULTILAYER in errors:
        ratios = errors[U.DEEP] / errors[U.MULTILAYER]
        ratio = ", deep/multilayer error " + ", ".join(f"{r:.3f}" for r in ratios)
    logg.info(
        f"    finished on {result.device}: {result.n_iter} sweeps, "
        f"objective {result.loss[-1]:.6g}{ratio}",
        time=start,
        deep=added(**slots),
    )
    warn_unconverged(
        "deep NMF", converged=result.converged, max_iter=max_iter, tol=tol, loss=result.loss
    )
    return target if copy else None


def _finite_and_unscaled(result, scale: float, beta: float, min_volume: bool) -> None:
    """Refuse non-finite results, then map a fit on ``X / scale`` back to ``X`` (in place).

    Every layer's D_β is homogeneous of degree β, and the scale sits in the factor the
    normalisation leaves free: all ``W_ℓ`` when rows of ``H_ℓ`` sum to one (Algorithm 1),
    ``H_1`` alone when columns of ``W_ℓ`` do (Algorithm 2). λ_ℓ = 1 / D_ℓ(init) scales as
    s^−β, so the weighted objective (and α_ℓ, calibrated on it) does not change.
    """
    records = [result.errors, result.init_errors, result.loss, result.layer_loss]
    records += [result.lambdas, result.alphas]
    if result.multilayer_errors is not None:
        records.append(result.multilayer_errors)
    check_finite_result(
        *result.W, *result.H, *records, hint="try more n_init_iter or beta_loss='kullback-leibler'"
    )
    if scale == 1.0:
        return
    if min_volume:
        result.H[0] = unscale_factor(result.H[0], scale, "cell activities")
    else:
        result.W = [unscale_factor(W, scale, "gene programs") for W in result.W]
    result.errors = unscale(result.errors, scale, beta, "layer errors")
    result.init_errors = unscale(result.init_errors, scale, beta, "layer errors")
    result.layer_loss = unscale(result.layer_loss, scale, beta, "layer losses")
    result.lambdas = unscale(result.lambdas, scale, -beta, "layer weights")
    if result.multilayer_errors is not None:
        result.multilayer_errors = unscale(
            result.multilayer_errors, scale, beta, "multilayer errors"
        )
