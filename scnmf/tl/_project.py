"""``tl.project``: activities of new cells for learned programs, the programs held fixed."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from scanpy import logging as logg

from .. import _keys as C
from .._core.consensus.refit import normalise_usage
from .._core.nmf.fixed import fit_activities, fixed_solver
from ._checks import check_adata
from ._convergence import warn_unconverged
from ._docs import doc_adata, doc_params
from ._matrix import check_use_raw, get_matrix, guard_memory
from ._penalty import fit_penalty
from ._programs import doc_add_to_obs, doc_obs_returns
from ._progress import progress_bar
from ._scale import check_magnitude, rescale_extreme, unscale, unscale_factor
from ._store import (
    activity_columns,
    add_activity_columns,
    added,
    check_finite_result,
    h5ad_safe,
    store,
)
from ._validate_project import PROJECT_PARAMS, TABLE, Reference, read_reference, resolve_key_added

#: Below this fraction of a program's loadings on the genes used, the projection warns.
MIN_WEIGHT_COVERED = 0.5
#: Gene names listed in a log line before "…".
_SHOWN = 10


def _shown(names) -> str:
    names = [str(n) for n in names]
    return ", ".join(names[:_SHOWN]) + (", …" if len(names) > _SHOWN else "")


def _align(adata: AnnData, ref: Reference, use_raw: bool) -> tuple[np.ndarray, np.ndarray]:
    """Shared genes: a mask over the query's genes and, per selected gene, its reference row.

    The query is read in its own gene order and the (small) programs are permuted to it,
    so the matrix is only column-selected, never reordered or densified.
    """
    source = "adata.raw.var_names" if use_raw else "adata.var_names"
    names = adata.raw.var_names if use_raw else adata.var_names
    names = pd.Index(names.astype(str))
    if not names.is_unique:
        raise ValueError(
            f"{source} has duplicate gene names, so genes cannot be matched to the reference "
            "by name; call var_names_make_unique() first."
        )
    rows = ref.genes.get_indexer(names)
    mask = rows >= 0
    if not mask.any():
        hint = ""
        if ref.kind == TABLE:  # a programs × genes table (cNMF's spectra files) is common
            transposed = int(names.isin(pd.Index(ref.names)).sum())
            if transposed:
                hint = (
                    f" The DataFrame's columns match {transposed} genes: it looks like "
                    "programs × genes, so pass reference.T."
                )
        raise ValueError(
            f"None of the reference's {ref.genes.size} genes is in {source} (e.g. "
            f"{_shown(ref.genes[:3])} vs {_shown(names[:3])}).{hint} Match the gene "
            "identifiers first (symbols vs Ensembl IDs), or pick the matrix with use_raw."
        )
    return mask, rows[mask]


def _coverage(ref: Reference, rows: np.ndarray) -> np.ndarray:
    """Fraction of each program's loadings that lies on the shared genes."""
    return ref.programs[rows].sum(axis=0) / ref.programs.sum(axis=0)


def _report_genes(ref: Reference, missing: pd.Index, covered: np.ndarray, n_used: int) -> None:
    if missing.size:
        logg.info(
            f"    {missing.size} of the reference's {ref.genes.size} genes are not in the "
            f"query and are left out of the fit: {_shown(missing)}"
        )
    low = np.flatnonzero(covered < MIN_WEIGHT_COVERED)
    if low.size:
        detail = ", ".join(f"{ref.names[j]} ({covered[j]:.0%})" for j in low[:_SHOWN])
        logg.warning(
            f"tl.project: {low.size} of {covered.size} programs keep under "
            f"{MIN_WEIGHT_COVERED:.0%} of their loadings on the {n_used} shared genes "
            f"({detail}); their activities rest on few genes. Check that the query's genes "
            "match the reference's (names, use_raw, layer)."
        )


@doc_params(doc_adata=doc_adata, doc_add_to_obs=doc_add_to_obs, doc_obs_returns=doc_obs_returns)
def project(
    adata: AnnData,
    reference: AnnData | pd.DataFrame,
    *,
    key: str = C.NMF_KEY,
    scale: int | None = None,
    beta_loss: Literal["frobenius", "kullback-leibler", "itakura-saito"] | float | None = None,
    layer: str | None = None,
    use_raw: bool = False,
    add_to_obs: bool = False,
    key_added: str | None = None,
    max_iter: int = 1000,
    tol: float = 1e-6,
    device: str = "auto",
    copy: bool = False,
) -> AnnData | None:
    """Score new cells with learned programs: their activities, the programs held fixed.

    Solves ``X ≈ W P`` for the activities ``W`` of ``adata``'s cells with the programs
    ``P`` of ``reference`` fixed (the W step of NMF alone, run to convergence: HALS for
    Frobenius, MU otherwise; with the programs fixed each cell's activities depend on its
    own row only), as scikit-learn's ``NMF.transform`` and starCAT do. Genes are matched
    by name: the fit uses the genes shared with the reference (missing genes are logged and
    stored, and a warning names programs with under half their loadings on shared genes);
    extra genes of ``adata`` are ignored. Nothing is zero-filled.

    Regularised references are projected with the plain β-NMF W step: a graph term
    (``tl.gnmf``, ``tl.pnmf``) or the coupling to deeper layers (``tl.deep_nmf``) is not
    part of it; an activity penalty ``alpha_W``/``l1_ratio`` in the reference's ``params``
    is.

    Parameters
    ----------
    {doc_adata}
        Its values must be on the scale the reference was fitted on (the same normalisation
        and layer).
    reference
        An AnnData holding a result of ``tl.nmf``, ``tl.gnmf``, ``tl.consensus_nmf``,
        ``tl.deep_nmf`` (one layer's programs) or ``tl.pnmf`` (one scale) under ``key``
        (``adata`` itself works too), or a genes × programs :class:`pandas.DataFrame`
        (index gene names, one nonnegative column per program; a cNMF/starCAT spectra
        table read with pandas, transposed when it is programs × genes).
    key
        The ``key_added`` of the reference's result (``'<key>_l<ℓ>'`` selects layer ℓ of a
        deep NMF; ``'<key>'`` its layer 1); with a DataFrame it only names the output.
    scale
        With a ``tl.pnmf`` reference, the scale (0 … T − 1) whose programs are used; ``None``
        uses its reference scale.
    beta_loss
        β of the fit; ``None`` uses the reference's (``params['beta_loss']``; Frobenius for
        results without one and for a DataFrame). Pass the β the programs were learned with.
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    use_raw
        Use ``adata.raw.X`` and match the reference to ``adata.raw.var_names`` (not with
        ``layer``).
    {doc_add_to_obs}
    key_added
        Where to store the result (default ``'<key>_projected'``; see Returns). Projecting
        ``adata`` onto its own result may not use ``key`` itself.
    max_iter
        Maximum number of W steps.
    tol
        Stop when the loss falls by less than ``tol`` relative to the previous step
        (``tol=0`` runs exactly ``max_iter``); a warning says when ``max_iter`` was reached
        first.
    device
        ``'cpu'`` (numba engine), ``'cuda'`` (PyTorch on a GPU) or ``'auto'`` (a GPU when
        PyTorch sees one). A dask matrix (chunked along cells) runs on its cluster.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with

    ``adata.obsm['X_<key>_projected' | 'X_' + key_added]`` : :class:`numpy.ndarray`
        float32 activities (n_obs × k), in the reference's program order. For a
        ``tl.consensus_nmf`` reference the rows sum to 1, as its own usage; programs with
        no loading on a shared gene get zeros (and a warning).
    ``adata.uns['<key>_projected' | key_added]`` : :class:`dict`
        ``reference_key``, ``reference_kind`` (``'nmf'``, ``'gnmf'``, ``'pnmf'``,
        ``'deep_nmf'``, ``'consensus_nmf'`` or ``'DataFrame'``), ``genes_used`` and
        ``genes_missing`` (str arrays: the shared genes in ``adata``'s order, the
        reference's genes absent from ``adata``), ``weight_covered`` (per program, the
        fraction of its loadings on ``genes_used``), ``program_names``, ``loss`` (before
        the first and after each step), ``n_iter``, ``converged`` and ``params``
        (``beta_loss``, ``solver``, ``max_iter``, ``tol``, ``layer``, ``use_raw``,
        ``scale``, ``normalized``, ``n_genes_used``, ``n_genes_reference``, ``device``,
        and ``alpha_W``/``l1_ratio`` when the reference has them).
    {doc_obs_returns}

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.pbmc68k_counts()
    >>> train, query = adata[:500].copy(), adata[500:].copy()
    >>> snmf.tl.nmf(train, 6, beta_loss="kullback-leibler", max_iter=100)
    >>> snmf.tl.project(query, train)
    >>> query.obsm["X_nmf_projected"].shape
    (200, 6)
    """
    check_adata(adata)
    o = PROJECT_PARAMS.validate(locals())
    ref = read_reference(reference, o.key, o.scale)
    beta = ref.beta if o.beta_loss is None else o.beta_loss
    key_added = resolve_key_added(o, reference)
    if o.use_raw:
        check_use_raw(adata, layer)
    mask, rows = _align(adata, ref, o.use_raw)
    columns = activity_columns(adata, key_added, int(ref.names.size), o.add_to_obs)
    covered = _coverage(ref, rows)
    fitted = np.flatnonzero(covered > 0)  # programs with no shared gene cannot be fitted
    guard_memory(adata, layer, mask, int(fitted.size), what="projection", use_raw=o.use_raw)
    X = get_matrix(adata, layer, mask, allow_zeros=beta > 0, use_raw=o.use_raw)

    solver = fixed_solver("auto", beta)
    start = logg.info(
        f"projecting {X.shape[0]} cells onto {ref.names.size} programs ({ref.where}, "
        f"β={beta:g}, solver={solver!r}) on {X.shape[1]} shared genes"
    )
    used_mask = np.zeros(ref.genes.size, dtype=bool)
    used_mask[rows] = True
    missing = ref.genes[~used_mask]
    _report_genes(ref, missing, covered, X.shape[1])
    if fitted.size < covered.size:
        logg.warning(
            f"tl.project: programs {_shown(ref.names[covered == 0])} have no loading on a "
            "shared gene; their activities are stored as 0."
        )
    X, scale = rescale_extreme(X)
    check_magnitude(X, scale, beta, what=f"β-divergence (β={beta:g})")
    programs = np.ascontiguousarray(ref.programs[rows][:, fitted].T)  # k × shared genes
    penalty = None
    if ref.penalties:  # scikit-learn's weights for the matrix fitted, in its rescaled units
        penalty = fit_penalty(
            ref.penalties["alpha_W"], 0.0, ref.penalties["l1_ratio"], X.shape, scale=scale,
            beta=beta, dtype=X.dtype, n_components=int(fitted.size),
        )  # fmt: skip
    with progress_bar(o.max_iter, "projection") as bar:

        def report(iteration: int, loss: float) -> None:
            if iteration:
                bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

        fit = fit_activities(
            X,
            programs,
            beta=beta,
            solver=solver,
            max_iter=o.max_iter,
            tol=o.tol,
            device=o.device,
            callback=report,
            penalty=penalty,
        )
    check_finite_result(fit.W, fit.loss, hint="try beta_loss='frobenius' or a layer of counts")
    W = np.zeros((X.shape[0], ref.names.size), dtype=np.float64)
    W[:, fitted] = unscale_factor(fit.W, scale, "activities")
    if ref.normalize:
        W = normalise_usage(W)
    loss = unscale(fit.loss, scale, beta, "loss")
    warn_unconverged(
        "tl.project", converged=fit.converged, max_iter=o.max_iter, tol=o.tol, loss=loss
    )

    params = {
        "beta_loss": beta,
        "solver": solver,
        "max_iter": o.max_iter,
        "tol": o.tol,
        "layer": layer,
        "use_raw": o.use_raw,
        "scale": ref.scale,
        "normalized": ref.normalize,
        "n_genes_used": int(X.shape[1]),
        "n_genes_reference": int(ref.genes.size),
        "device": fit.backend,
        **ref.penalties,
    }
    U, keys = C.ProjectUns, C.projected_keys(key_added)
    record = {
        U.REFERENCE_KEY: o.key,
        U.REFERENCE_KIND: ref.kind,
        U.GENES_USED: np.asarray(ref.genes[rows], dtype=str),
        U.GENES_MISSING: np.asarray(missing, dtype=str),
        U.WEIGHT_COVERED: np.asarray(covered, dtype=np.float64),
        U.PROGRAM_NAMES: np.asarray(ref.names, dtype=str),
        U.LOSS: loss,
        U.N_ITER: int(fit.n_iter),
        U.CONVERGED: bool(fit.converged),
        U.PARAMS: h5ad_safe(params),
    }
    slots = {"obsm": {keys.obsm: W.astype(np.float32)}, "uns": {keys.uns: record}}
    stale = add_activity_columns(slots, adata, key_added, columns, W)
    target = store(adata, copy, drop_obs=stale, **slots)
    logg.info(
        f"    finished: {fit.n_iter} steps, final loss {loss[-1]:.6g}",
        time=start,
        deep=added(**slots),
    )
    return target if copy else None
