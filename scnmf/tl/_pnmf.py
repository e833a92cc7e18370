"""``tl.pnmf``: persistent NMF (multi-scale graph-regularised NMF)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from anndata import AnnData
from scanpy import logging as logg

from .. import _keys as C
from .._core.pnmf import fit_pnmf
from .._core.pnmf.scale_choice import stable_scale
from .._records import persistence_record
from ._checks import check_adata, check_rank, check_scale_index
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
from ._neighbors import cell_edges
from ._persistence import pca_as_neighbors, run_persistence
from ._pnmf_presets import PNMF_PRESETS
from ._programs import doc_add_to_obs, doc_obs_returns, doc_use_raw
from ._progress import progress_bar
from ._rules import option_error
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
from ._validate import PNMF_PARAMS


def _check_outputs_spare_inputs(key_added: str, params: dict) -> None:
    """The keys ``tl.pnmf`` writes must not hold what its persistence record was built on.

    (``uns[persistence_key]`` itself is refused by the table's ``key_added_not_input``.)
    """
    keys = C.pnmf_keys(key_added)
    hit = []
    if params["use_rep"] in (keys.obsm, keys.obsm_scales):
        hit.append(f"adata.obsm[{params['use_rep']!r}] (the representation of its cell graph)")
    if params.get("knn_from") == key_added:
        hit.append(f"adata.uns[{key_added!r}] (the kNN graph it reuses)")
    if hit:
        raise option_error(
            "key_added",
            key_added,
            "keys other than those the call reads",
            fix=f"The result would overwrite the call's own input {' and '.join(hit)}. "
            f"Pass another key_added, e.g. key_added={key_added + '_result'!r}.",
        )


@doc_params(
    doc_adata=doc_adata, doc_matrix_selection=doc_matrix_selection, doc_common=doc_common,
    doc_use_raw=doc_use_raw, doc_add_to_obs=doc_add_to_obs, doc_obs_returns=doc_obs_returns,
)  # fmt: skip
def pnmf(
    adata: AnnData,
    n_components: int,
    *,
    persistence_key: str = C.PERSISTENCE_KEY,
    preset: Literal["default", "reference"] = "default",
    lambda_graph: float | None = None,
    lambda_scale: float | None = None,
    lambda_anchor: float | None = None,
    n_sweeps: int = 10,
    max_inner_iter: int = 1000,
    inner_tol: float = 1e-3,
    normalize: Literal["start", "iteration"] = "start",
    init: Literal["nndsvd", "nndsvda", "nndsvdar", "random"] = "nndsvda",
    reference_scale: int | Literal["finest", "stable"] = 0,
    n_clusters: int | None = None,
    device: str = "auto",
    layer: str | None = None,
    use_raw: bool = False,
    mask_var=DEFAULT,
    random_state: int | None = 0,
    key_added: str = C.PNMF_KEY,
    copy: bool = False,
    add_to_obs: bool = False,
) -> AnnData | None:
    """Persistent NMF: one factorisation per scale of the cell graph, coupled across scales.

    For scales t = 1 … T (finest first, from :func:`scnmf.tl.persistence`) it minimises

        Σ_t ‖X − W_t H_t‖² + λ1 Σ_t tr(W_tᵀ L_t W_t) + λ2 Σ_t≥2 ‖W_t − W_t−1‖² + λ3 Σ_t ‖W_t‖²

    with W_t ≥ 0 (cells × k) the cell embedding at scale t, H_t ≥ 0 (k × genes) its
    programs (rows at unit norm, so every term is of degree 2 in (X, W) and no λ depends
    on the units of X) and L_t the Laplacian of the ε_t-graph (edge iff d < ε_t). The
    default ``preset`` makes the graph term unit-free too: weights exp(−(d/ε_t)²) and L_t
    divided by its mean weighted degree tr(L_t)/n, so λ1 means the same whatever the
    units of the representation, the number of cells or the density of a scale's graph;
    ``preset='reference'`` keeps the reference code's weights exp(−d²/ε_t^1.5) and raw
    L_t. Algorithm as the reference code (Zhang, Miao & Li 2026): NNDSVDA,
    a warm-started GNMF chain from the coarsest to the finest scale, then ``n_sweeps``
    Gauss–Seidel sweeps from fine to coarse with modified multiplicative updates. Graphs
    are sparse and built per scale on demand; sparse ``X`` stays sparse.

    Parameters
    ----------
    {doc_adata}
    n_components
        Rank k.
    persistence_key
        Key of the :func:`scnmf.tl.persistence` result; computed with its defaults (and
        stored under this key, with the PCA it computes when ``obsm['X_pca']`` is missing)
        when missing.
    preset
        The λs that ``lambda_*=None`` take, and the graphs' weights and scaling.

        ``'default'``: λ1 = 1, λ2 = 10, λ3 = 1 on the unit-free graphs. Chosen by
        ``benchmarks/results/pnmf_defaults.md``: five labelled sets and generated nested
        clusters, scanpy's recipe (2,000 HVGs, 30 PCs), k = 10, 3 seeds, ARI of KMeans
        with the true number of types. Against a default :func:`nmf` it gained on every
        set (+0.006 … +0.042 on the five labelled sets, +0.22 on the nested fine types;
        seed s.d. up to 0.05), mean ARI 0.675 vs 0.602 (seven scores: five sets, nested at
        both levels), at 1.3 s per fit vs 6.1 s for ``'reference'``. λ2 = 10 carries
        the coarser scales' graphs to the finest scale (whose ε-graph has no edges);
        λ2 = 100 on the reference's graphs gained most on two sets but lost 0.19 on
        pbmc_facs400, where the graph misleads (GNMF loses there too).

        ``'reference'``: the reference code's scRNA-seq setting, λ1 = λ2 = λ3 = 1 on its
        weights exp(−d²/ε_t^1.5) and raw Laplacians (mean ARI 0.649; 0.587 vs NMF's 0.830
        on pbmc3k).
    lambda_graph
        λ1, weight of the graph (geometric) term; ``None``: the preset's.
    lambda_scale
        λ2, weight of the cross-scale consistency term; ``None``: the preset's. The finest
        scale's ε-graph has no edges, so λ2 is the only way graph structure reaches the
        finest embedding: with λ2 = 1 it stays close to plain NMF or falls below it.
    lambda_anchor
        λ3, weight of the anchoring term ‖W_t‖²; ``None``: the preset's.
    n_sweeps
        Gauss–Seidel sweeps over the scales after the warm-start chain.
    max_inner_iter
        Maximum iterations of each scale's subproblem.
    inner_tol
        Relative-change tolerance of each subproblem. One warning summarises the
        subproblems that reached ``max_inner_iter`` first.
    normalize
        ``'start'`` (default): programs are rescaled to unit norm when a subproblem starts,
        so every subproblem's objective decreases monotonically; ``'iteration'``: after
        every inner iteration, exactly as the reference code (not monotone).
    init
        Initialisation of the chain.
    reference_scale
        The scale stored in ``obsm['X_pnmf']``: an index (0 = finest, the reference's
        choice), ``'finest'``, or ``'stable'`` — the label-free rule: KMeans
        (``n_clusters``) on every scale's embedding, and the scale (coarsest excluded) whose
        clustering agrees best (mean ARI) with those of its two neighbouring scales, i.e.
        the middle of the widest plateau of the multi-scale structure.
    n_clusters
        Clusters per scale for ``reference_scale='stable'`` (default ``n_components``).
    device
        ``'cpu'`` (numpy/numba engine), ``'cuda'`` (PyTorch on a GPU; ``pip install
        'scnmf[gpu]'``) or ``'auto'`` (a GPU when PyTorch sees one, else the CPU). On a GPU,
        ``X`` (CSR when sparse) and each scale's graph are copied to the device once per
        call; results are stored as numpy arrays exactly as on the CPU and agree with it
        up to float32 rounding. Ignored for dask arrays (see Notes).
    {doc_matrix_selection}
    {doc_use_raw}
    {doc_common}
    {doc_add_to_obs}
        pNMF writes the activities at the reference scale (those of ``obsm['X_pnmf']``).

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with

    ``adata.obsm['X_pnmf' | 'X_' + key_added]`` : :class:`numpy.ndarray` (n_obs × k)
        Cell embedding at the reference scale (default: finest).
    ``adata.obsm['X_pnmf_scales' | 'X_' + key_added + '_scales']`` : :class:`numpy.ndarray`
        Cell embeddings at every scale (n_obs × T × k), finest first.
    ``adata.varm['pnmf_loadings' | key_added + '_loadings']`` : :class:`numpy.ndarray`
        Gene loadings per scale (n_vars × T × k); zero rows for genes left out.
    ``adata.uns['pnmf' | key_added]`` : :class:`dict`
        ``scales`` (T,), ``n_components`` (β0 per scale), ``reference_scale``, ``loss``
        (total objective after the chain and after each sweep), ``n_inner_iter``
        ((n_sweeps + 1) × T), ``params`` (with ``preset``, its ``kernel`` and
        ``graph_scaling``, and the λs used), and with ``reference_scale='stable'`` the
        ``scale_stability`` (T,) the choice was made from.
    ``adata.uns[persistence_key]`` : :class:`dict`
        Only when it was missing: the persistence result used (see :func:`persistence`),
        and when that computed a PCA, ``obsm['X_pca']``, ``varm['PCs']``, ``uns['pca']``.
    {doc_obs_returns}

    Notes
    -----
    When the matrix is a dask array (chunked along cells), the multi-scale solve (the
    warm-start chain, every sweep and every scale's subproblem) runs as one task on one
    dask worker: the row blocks are computed on the cluster and assembled on that worker,
    so the matrix never passes through this process, but it must fit one worker's memory
    (together with T cell factors). It is not split across workers: each scale's
    subproblem needs the whole matrix at every inner iteration, and scales are coupled
    (Gauss–Seidel), so they run one after another. Without a ``dask.distributed`` client
    the blocks are computed and solved in this process. The cell graph and the scales
    come from :func:`persistence` (computed from ``use_rep``, see there) and are small;
    the factors come back to this process. ``device`` does not apply to dask arrays
    (``params['device']`` is then ``'dask'``).

    Examples
    --------
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.concentric_circles()
    >>> snmf.tl.persistence(adata, n_scales=4)
    >>> snmf.tl.pnmf(adata, 2, n_sweeps=2)
    >>> adata.obsm["X_pnmf_scales"].shape
    (80, 4, 2)
    """
    check_adata(adata)
    o = PNMF_PARAMS.validate(locals())
    setting = PNMF_PRESETS[o.preset]
    lam1, lam2, lam3 = (
        setting[name] if getattr(o, name) is None else getattr(o, name)
        for name in ("lambda_graph", "lambda_scale", "lambda_anchor")
    )
    n_sweeps, max_inner_iter, inner_tol = o.n_sweeps, o.max_inner_iter, o.inner_tol
    random_state, reference_scale, n_clusters = o.random_state, o.reference_scale, o.n_clusters
    mask = resolve_mask_var(adata, mask_var)
    P = C.PersistenceUns
    # A stored record is checked once, before any work: complete, sane and of these cells.
    record = None
    if persistence_key in adata.uns:
        record = persistence_record(adata, persistence_key)
        _check_outputs_spare_inputs(key_added, record[P.PARAMS])
    n_scales = record[P.SCALES].size if record is not None else 8
    # With use_raw, ``read`` selects adata.raw's columns and ``rows`` their adata.var rows.
    read, rows = raw_gene_mask(adata, layer, mask) if o.use_raw else (mask, mask)
    guard_memory(
        adata, layer, read, n_components, copies=n_scales + 1, what="pNMF", use_raw=o.use_raw
    )
    X = get_matrix(adata, layer, read, use_raw=o.use_raw)
    k = check_rank(n_components, X.shape)
    columns = activity_columns(adata, key_added, k, o.add_to_obs)
    # Every term is homogeneous of degree 2 in (X, W_t) with the programs H_t at unit norm,
    # so the λs keep their meaning on the rescaled data; W_t and the loss are scaled back.
    X, scale = rescale_extreme(X)
    check_magnitude(
        X, scale, 2, what="pNMF objective", n_components=k,
        penalties={
            "lambda_graph": (lam1, 2.0 * X.shape[0]),
            "lambda_scale": (lam2, 4.0),
            "lambda_anchor": (lam3, 1.0),
        },
    )  # fmt: skip

    new_persistence, pca = None, {}
    if record is not None:
        edges, _ = cell_edges(adata, record[P.PARAMS])
    else:
        logg.info(f"    no uns[{persistence_key!r}]: computing persistence with its defaults")
        pca = pca_as_neighbors(adata, None)
        record, edges = run_persistence(
            adata, use_rep=None, n_neighbors=15, neighbors_key=None, n_scales=8, scales=None,
            random_state=random_state, pca=pca,
        )  # fmt: skip
        new_persistence = record
    scales = np.asarray(record[P.SCALES], dtype=np.float64)
    T = scales.size
    if reference_scale == "finest":
        reference_scale = 0
    if reference_scale != "stable":
        reference_scale = check_scale_index(reference_scale, T)

    start = logg.info(
        f"computing persistent NMF (k={k}, T={T} scales, preset {o.preset!r}, "
        f"λ=({lam1:g}, {lam2:g}, {lam3:g})) on "
        f"{X.shape[0]} cells × {X.shape[1]} genes"
    )
    # One tick per scale fit; a dask matrix is solved on a worker, which reports none.
    with progress_bar(T * (n_sweeps + 1), "pNMF (scale fits)") as bar:

        def report(stage: int, t: int, res) -> None:
            bar.update(1)
            bar.set_postfix(sweep=stage, scale=t, refresh=False)

        result = fit_pnmf(
            X, edges, scales, k, lambda_graph=lam1, lambda_scale=lam2, lambda_anchor=lam3,
            n_sweeps=n_sweeps, max_inner_iter=max_inner_iter, inner_tol=inner_tol, init=init,
            normalize=normalize, random_state=random_state, device=device, callback=report,
            kernel=setting["kernel"], graph_scaling=setting["graph_scaling"],
        )  # fmt: skip
    if result.device == "dask":
        logg.info("    solved on one dask worker (the matrix was assembled there)")
    check_finite_result(
        result.W, result.H, result.loss, hint="try smaller lambda_* weights or init='nndsvda'"
    )
    result.W = unscale_factor(result.W, scale, "cell embeddings")
    result.loss = unscale(result.loss, scale, 2, "objective")

    params = {
        "n_components": k,
        "preset": o.preset,
        "kernel": setting["kernel"],
        "graph_scaling": setting["graph_scaling"],
        "lambda_graph": lam1,
        "lambda_scale": lam2,
        "lambda_anchor": lam3,
        "n_sweeps": n_sweeps,
        "max_inner_iter": max_inner_iter,
        "inner_tol": inner_tol,
        "normalize": normalize,
        "init": init,
        "persistence_key": persistence_key,
        "layer": layer,
        "use_raw": o.use_raw,
        "mask_var": mask_description(mask_var),
        "random_state": random_state,
        "n_genes_used": int(X.shape[1]),
        "device": result.device,
    }
    embeddings = np.ascontiguousarray(result.W.transpose(1, 0, 2))  # n × T × k
    stability = None
    if reference_scale == "stable":
        n_clusters = n_clusters or k
        reference_scale, stability = stable_scale(embeddings, n_clusters, random_state=random_state)
        params["n_clusters"] = n_clusters
        logg.info(f"    most stable scale: t={reference_scale + 1} of {T}")
    loadings = expand_loadings(result.H.transpose(2, 0, 1), rows, adata.n_vars)  # m × T × k
    keys, U = C.pnmf_keys(key_added), C.PnmfUns
    uns = {
        U.SCALES: scales,
        U.N_COMPONENTS: np.asarray(record[P.N_COMPONENTS], dtype=np.int64),
        U.REFERENCE_SCALE: int(reference_scale),
        U.LOSS: np.asarray(result.loss, dtype=np.float64),
        U.N_INNER_ITER: result.n_inner_iter,
        U.PARAMS: h5ad_safe(params),
    }
    if stability is not None:
        uns[U.SCALE_STABILITY] = stability
    slots = {
        "obsm": {
            keys.obsm: np.ascontiguousarray(embeddings[:, reference_scale]),
            keys.obsm_scales: embeddings,
        },
        "varm": {keys.varm: loadings},
        "uns": {keys.uns: uns},
    }
    if new_persistence is not None:
        slots["uns"][persistence_key] = new_persistence
        for slot, entries in pca.items():  # the PCA the new record was built on
            slots.setdefault(slot, {}).update(entries)
    reference = slots["obsm"][keys.obsm]
    stale = add_activity_columns(slots, adata, key_added, columns, reference)
    target = store(adata, copy, drop_obs=stale, **slots)
    logg.info(
        f"    finished: {int(result.n_inner_iter.sum())} inner iterations, "
        f"final objective {result.loss[-1]:.6g}",
        time=start,
        deep=added(**slots),
    )
    # A subproblem that ran max_inner_iter iterations stopped there (the inner loop ends
    # earlier only when its tolerance is met); one summary for all of them.
    stopped = int((result.n_inner_iter >= max_inner_iter).sum())
    warn_unconverged(
        f"pNMF: {stopped} of {result.n_inner_iter.size} scale subproblems",
        converged=stopped == 0, max_iter=max_inner_iter, tol=inner_tol,
        limit="max_inner_iter", tol_name="inner_tol",
    )  # fmt: skip
    return target if copy else None
