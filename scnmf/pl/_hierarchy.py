"""``pl.deep_hierarchy`` (Sankey of layer-to-layer merges) and ``pl.layer_errors``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from ._utils import (
    PL_DOCS,
    count,
    finish,
    flag,
    fraction,
    new_axes,
    obs_column,
    stored,
    stored_record,
)

_PRODUCER = "scnmf.tl.deep_nmf"
U = C.DeepUns


def _result(adata: AnnData, key: str, fields=(U.RANKS,)) -> dict:
    return stored_record(adata, key, f"{_PRODUCER}(adata, key_added={key!r})", fields)


def hierarchy_flows(adata: AnnData, key: str = C.DEEP_NMF_KEY) -> tuple[list, list]:
    """Program masses per layer and the flows between consecutive layers.

    The mass of program k at layer ℓ is the share of all modelled counts it accounts for,
    ``Σ_cells obsm[…_lℓ][:, k] · Σ_genes varm[…_lℓ][:, k]``. Since
    ``W_ℓ[:, k] ≈ Σ_j W_{ℓ+1}[:, j] H_{ℓ+1}[j, k]``, program k sends
    ``F_kj = ‖W_{ℓ+1}[:, j]‖₁ · H_{ℓ+1}[j, k] · Σ_cells (H_ℓ…H_1)[k, :]`` to program j.

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.deep_nmf`.
    key
        Its ``key_added``.

    Returns
    -------
    masses
        One array per layer (length r_ℓ), each summing to one.
    flows
        One array per pair of consecutive layers, shape (r_ℓ, r_{ℓ+1}), scaled like
        ``masses`` (each sums to about one).
    """
    uns, keys = _result(adata, key), C.deep_keys(key)
    L = len(np.atleast_1d(np.asarray(uns[U.RANKS])))
    producer = f"{_PRODUCER}(adata, key_added={key!r})"
    merges = uns.get(U.H, {})
    missing = [
        str(ell)
        for ell in range(2, L + 1)
        if not isinstance(merges, Mapping) or str(ell) not in merges
    ]
    if missing:
        raise KeyError(
            f"adata.uns[{key!r}][{U.H!r}] has no factor for layer {missing[0]}; rerun {producer}."
        )
    activity_sums, program_sums, masses = [], [], []
    for ell in range(1, L + 1):
        act = np.asarray(stored(adata, keys.obsm(ell), producer, where="obsm"))
        prog = np.asarray(stored(adata, keys.varm(ell), producer, where="varm"))
        a, p = act.sum(axis=0, dtype=np.float64), prog.sum(axis=0, dtype=np.float64)
        activity_sums.append(a)
        program_sums.append(p)
        mass = a * p
        masses.append(mass / mass.sum())
    flows = []
    for ell in range(1, L):
        H = np.asarray(uns[U.H][str(ell + 1)], dtype=np.float64)  # r_{ℓ+1} × r_ℓ
        F = (program_sums[ell][:, None] * H * activity_sums[ell - 1][None, :]).T
        flows.append(F / F.sum())
    return masses, flows


def _node_labels(adata, key, ell, r, labels, n_genes) -> list[str]:
    if labels != "genes":
        clusters = np.asarray(adata.obs[C.deep_keys(key).obs(ell)]).astype(str)
        truth = np.asarray(adata.obs[labels]).astype(str)
    prog = np.asarray(adata.varm[C.deep_keys(key).varm(ell)])
    names = np.asarray(adata.var_names)
    out = []
    for k in range(r):
        if labels != "genes":
            members = truth[clusters == str(k)]
            if members.size:
                values, counts = np.unique(members, return_counts=True)
                best = np.argmax(counts)
                out.append(f"{values[best]} ({100 * counts[best] / members.size:.0f}%)")
                continue
        top = np.argsort(-prog[:, k], kind="stable")[:n_genes]
        out.append(", ".join(names[top]))
    return out


def _band(ax, x0, x1, y0_lo, y0_hi, y1_lo, y1_hi, color, alpha):
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    xm = 0.5 * (x0 + x1)
    verts = [
        (x0, y0_lo),
        (xm, y0_lo),
        (xm, y1_lo),
        (x1, y1_lo),
        (x1, y1_hi),
        (xm, y1_hi),
        (xm, y0_hi),
        (x0, y0_hi),
        (x0, y0_lo),
    ]
    codes = [Path.MOVETO] + [Path.CURVE4] * 3 + [Path.LINETO] + [Path.CURVE4] * 3
    codes.append(Path.CLOSEPOLY)
    ax.add_patch(PathPatch(Path(verts, codes), facecolor=color, edgecolor="none", alpha=alpha))


@doc_params(**PL_DOCS)
def deep_hierarchy(
    adata: AnnData,
    *,
    key: str = C.DEEP_NMF_KEY,
    labels: str = "genes",
    n_genes: int = 3,
    min_flow: float = 0.05,
    gap: float = 0.02,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | None = None,
):
    """Sankey diagram of how the programs of each layer merge into the next layer's.

    Layers are columns (layer 1, the finest, on the left). Each program is a bar whose
    height is its share of the modelled counts; a band from program k of layer ℓ to program
    j of layer ℓ+1 has width proportional to ``‖W_{{ℓ+1}}[:, j]‖₁ H_{{ℓ+1}}[j, k]`` (see
    :func:`hierarchy_flows`), i.e. how much of k is explained by j.

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.deep_nmf`.
    key
        ``key_added`` used there.
    labels
        ``'genes'``: label programs by their top genes; or a column of ``adata.obs`` (e.g.
        known cell types): label each program by the most frequent category among the cells
        of its cluster (``obs[key + '_l{{ℓ}}']``) with its percentage.
    n_genes
        Genes per label with ``labels='genes'`` (an integer ≥ 1).
    min_flow
        Hide bands carrying less than this fraction (0 … 1) of their source program.
    gap
        Vertical space between programs, as a fraction of the column height (≥ 0, and less
        than 1 / (r − 1) for the widest layer of r programs).
    {doc_ax}
    {doc_output}

    Returns
    -------
    {doc_returns_axes}

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.two_level_hierarchy(n_cells=300, n_genes=200)
    >>> snmf.tl.deep_nmf(adata, (6, 3), n_init_iter=50, max_iter=50)
    >>> ax = snmf.pl.deep_hierarchy(adata, labels="fine", show=False)
    """
    import matplotlib.pyplot as plt

    if labels != "genes":
        obs_column(adata, labels, "labels", other="'genes'")
    n_genes = count(n_genes, "n_genes", example=3)
    min_flow = fraction(min_flow, "min_flow")
    masses, flows = hierarchy_flows(adata, key)
    L = len(masses)
    widest = max(len(m) for m in masses)
    gap = fraction(gap, "gap", upper=1.0 / max(1, widest - 1), closed=widest == 1)
    producer = f"{_PRODUCER}(adata, key_added={key!r})"
    for ell in range(1, L + 1) if labels != "genes" else ():
        stored(adata, C.deep_keys(key).obs(ell), producer, where="obs")  # the cluster labels
    fig, ax = new_axes(ax, figsize=(3.2 * L + 1.5, 5.0))
    cmap = plt.get_cmap("tab20")
    width = 0.06
    # node extents: (bottom, top) per layer and program
    extents = []
    for mass in masses:
        r = len(mass)
        scale = 1.0 - gap * (r - 1)
        tops, pos = [], 1.0
        for k in range(r):
            h = mass[k] * scale
            tops.append((pos - h, pos))
            pos -= h + gap
        extents.append(tops)
    for ell, F in enumerate(flows):
        src, dst = extents[ell], extents[ell + 1]
        out_share = F / np.maximum(F.sum(axis=1, keepdims=True), np.finfo(float).tiny)
        in_share = F / np.maximum(F.sum(axis=0, keepdims=True), np.finfo(float).tiny)
        src_cursor = [top for _, top in src]
        dst_cursor = [top for _, top in dst]
        for k in range(F.shape[0]):
            for j in range(F.shape[1]):
                hs = out_share[k, j] * (src[k][1] - src[k][0])
                ht = in_share[k, j] * (dst[j][1] - dst[j][0])
                if out_share[k, j] >= min_flow:
                    _band(
                        ax,
                        ell + width / 2,
                        ell + 1 - width / 2,
                        src_cursor[k] - hs,
                        src_cursor[k],
                        dst_cursor[j] - ht,
                        dst_cursor[j],
                        cmap(k % 20),
                        0.35,
                    )
                src_cursor[k] -= hs
                dst_cursor[j] -= ht
    ranks = [len(m) for m in masses]
    for ell, tops in enumerate(extents):
        names = _node_labels(adata, key, ell + 1, ranks[ell], labels, n_genes)
        for k, (bottom, top) in enumerate(tops):
            ax.add_patch(
                plt.Rectangle(
                    (ell - width / 2, bottom), width, top - bottom, color=cmap(k % 20), lw=0
                )
            )
            ha, dx = ("right", -width) if ell == 0 and L > 1 else ("left", width)
            ax.text(
                ell + dx,
                0.5 * (bottom + top),
                f"{k}: {names[k]}",
                ha=ha,
                va="center",
                fontsize=7,
                bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1},
            )
    ax.set_xlim(-1.0, L - 0.1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(range(L), [f"layer {ell + 1}\n(r={ranks[ell]})" for ell in range(L)])
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title("deep NMF hierarchy")
    return finish(fig, ax, show=show, return_fig=return_fig, save=save)


@doc_params(**PL_DOCS)
def layer_errors(
    adata: AnnData,
    *,
    key: str = C.DEEP_NMF_KEY,
    relative: bool = False,
    log: bool = True,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | None = None,
):
    """Per-layer error of deep NMF next to the multilayer baseline.

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.deep_nmf` (``uns[key]['errors']``).
    key
        ``key_added`` used there.
    relative
        Plot the ratio deep / multilayer (in %, with a 100 % line) instead of both errors.
    log
        Logarithmic error axis (ignored with ``relative=True``).
    {doc_ax}
    {doc_output}

    Returns
    -------
    {doc_returns_axes}

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import scnmf as snmf
    >>> adata = snmf.datasets.two_level_hierarchy(n_cells=300, n_genes=200)
    >>> snmf.tl.deep_nmf(adata, (6, 3), n_init_iter=50, max_iter=50)
    >>> ax = snmf.pl.layer_errors(adata, show=False)
    """
    relative, log = flag(relative, "relative"), flag(log, "log")
    errors = _result(adata, key, (U.ERRORS,))[U.ERRORS]
    if not isinstance(errors, Mapping) or U.DEEP not in errors:
        raise KeyError(
            f"adata.uns[{key!r}][{U.ERRORS!r}] holds no {U.DEEP!r} errors; rerun "
            f"{_PRODUCER}(adata, key_added={key!r})."
        )
    deep = np.atleast_1d(np.asarray(errors[U.DEEP], dtype=np.float64))
    multi = errors.get(U.MULTILAYER)
    if relative and multi is None:
        raise KeyError(
            f"adata.uns[{key!r}][{U.ERRORS!r}] has no multilayer baseline; rerun "
            f"{_PRODUCER} with multilayer_baseline=True."
        )
    L = deep.size
    x = np.arange(1, L + 1)
    fig, ax = new_axes(ax, figsize=(1.2 * L + 2.5, 3.5))
    if relative:
        ratio = 100.0 * deep / np.asarray(multi, dtype=np.float64)
        ax.bar(x, ratio, color="#3a6ea5")
        ax.axhline(100.0, color="0.3", lw=0.8, ls="--")
        for xi, value in zip(x, ratio, strict=True):
            ax.text(xi, value, f"{value:.0f}%", ha="center", va="bottom", fontsize=8)
        ax.set_ylabel("deep / multilayer error (%)")
    else:
        w = 0.38 if multi is not None else 0.6
        ax.bar(x - (w / 2 if multi is not None else 0), deep, w, label="deep", color="#3a6ea5")
        if multi is not None:
            ax.bar(x + w / 2, np.asarray(multi), w, label="multilayer", color="#c8a04a")
        ax.legend(frameon=False, fontsize=8)
        ax.set_ylabel("D_β(W_{ℓ−1} | W_ℓ H_ℓ)")
        if log:
            ax.set_yscale("log")
    ax.set_xticks(x, [f"layer {i}" for i in x])
    return finish(fig, ax, show=show, return_fig=return_fig, save=save)
