"""``pl.deep_hierarchy`` (Sankey of layer-to-layer merges) and ``pl.layer_errors``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from anndata import AnnData

from .. import _keys as C
from .._docs import doc_params
from ._colors import add_legend, check_legend_loc, resolve_color
from ._legible import plain_log_numbers, renderer_of, spread_vertically, thin
from ._loadings import _divergence
from ._sankey import (
    NEUTRAL_BAND,
    draw_bands,
    draw_nodes,
    fit_xlim,
    node_extents,
    node_segments,
    widest_label,
)
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


def _shorten(name: str, limit: int = 22) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _specific_genes(adata: AnnData, key: str, ell: int, n_genes: int) -> list[list[str]]:
    """Per program of layer ℓ, its ``n_genes`` most specific genes (positive scores only)."""
    from ..get._programs import gene_specificity

    prog = np.asarray(adata.varm[C.deep_keys(key).varm(ell)], dtype=np.float64)
    scores = gene_specificity(prog)
    names = np.asarray(adata.var_names)
    out = []
    for k in range(prog.shape[1]):
        top = np.argsort(-scores[:, k], kind="stable")[:n_genes]
        out.append([str(g) for g in names[top[scores[top, k] > 0]]])
    return out


def _composition(adata: AnnData, key: str, ell: int, coloring) -> np.ndarray:
    """Programs × categories: the share of each program's activity carried by each category.

    Activity-weighted (``Σ_cells in c obsm[…_lℓ][:, k] / Σ_cells obsm[…_lℓ][:, k]``), so
    the segments split the bar's mass as the bar is drawn; cells without a category are
    left out (the rest of the bar is grey).
    """
    act = np.asarray(adata.obsm[C.deep_keys(key).obsm(ell)], dtype=np.float64)
    n = len(coloring.categories)
    onehot = np.zeros((act.shape[0], n))
    known = coloring.codes >= 0
    onehot[np.flatnonzero(known), coloring.codes[known]] = 1.0
    total = act.sum(axis=0)
    return (act.T @ onehot) / np.maximum(total, np.finfo(float).tiny)[:, None]


def _label(k: int, genes: list[str], shares: np.ndarray | None, names: list[str]) -> str:
    """'3: CD79A, MS4A1', or the two largest shares one per line, then the genes."""
    gene_text = ", ".join(genes) if genes else "no specific gene"
    if shares is None:
        return f"{k}: {gene_text}"
    top = np.argsort(-shares, kind="stable")[:2]
    parts = [f"{100 * shares[c]:.0f}% {_shorten(names[c])}" for c in top if shares[c] >= 0.05]
    lines = [f"{k}: {parts[0] if parts else 'mixed'}", *parts[1:], gene_text]
    return "\n".join(lines)


@doc_params(**PL_DOCS)
def deep_hierarchy(
    adata: AnnData,
    *,
    key: str = C.DEEP_NMF_KEY,
    labels: str = "genes",
    n_genes: int = 3,
    min_flow: float = 0.05,
    gap: float | None = None,
    palette=None,
    legend_loc: str | None = "right margin",
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    save: str | bool | None = None,
):
    """Sankey diagram of how the programs of each layer merge into the next layer's.

    Layers are columns (layer 1, the finest, on the left). Each program is a bar whose
    height is its share of the modelled counts; a band from program k of layer ℓ to program
    j of layer ℓ+1 has width proportional to ``‖W[ℓ+1][:, j]‖₁ H[ℓ+1][j, k]`` (see
    :func:`hierarchy_flows`), i.e. how much of k is explained by j.

    Programs are labelled by their most specific genes
    (:func:`scnmf.get.gene_specificity`: genes a program loads much more than any other
    program, so housekeeping genes that every program loads are not shown). With
    ``labels`` a column of ``adata.obs`` (e.g. known cell types), each bar is stacked by
    the cell types carrying its activity, in the types' colours (``uns[labels +
    '_colors']`` as scanpy, or ``palette``), with a legend, and the label names the two
    largest shares (e.g. ``"62% CD4 T, 30% B"``) above the genes. Labels that would
    overlap are dropped, the smallest programs first, so 10 or 1,000 programs read alike.

    Parameters
    ----------
    adata
        AnnData after :func:`scnmf.tl.deep_nmf`.
    key
        ``key_added`` used there.
    labels
        ``'genes'``: label programs by their most specific genes; or a categorical column
        of ``adata.obs``: show each program's composition in it (and the genes).
    n_genes
        Genes per label (an integer ≥ 1).
    min_flow
        Hide bands carrying less than this fraction (0 … 1) of their source program.
    gap
        Vertical space between programs, as a fraction of the column height (≥ 0, and less
        than 1 / (r − 1) for the widest layer of r programs); by default 0.02, less when
        the widest layer has more than 16 programs (a third of the column in gaps at most).
    palette
        Colours of the categories of ``labels`` (a colormap name, a list, or a mapping
        category → colour); by default those scanpy stored, else scanpy's defaults.
    legend_loc
        Where the categories' legend goes: ``'right margin'`` (default), a matplotlib
        location such as ``'upper right'``, or ``'none'``/``None``.
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

    coloring = None
    if labels != "genes":
        obs_column(adata, labels, "labels", other="'genes'")
        coloring = resolve_color(adata, labels, palette=palette, name="labels")
        if coloring.kind != "cat":
            raise ValueError(
                f"labels={labels!r} is a numeric column; pass a categorical one (cell types, "
                f"clusters) or 'genes', or convert it: adata.obs[{labels!r}] = "
                f"adata.obs[{labels!r}].astype('category')."
            )
    legend_loc = check_legend_loc(legend_loc)
    n_genes = count(n_genes, "n_genes", example=3)
    min_flow = fraction(min_flow, "min_flow")
    masses, flows = hierarchy_flows(adata, key)
    L = len(masses)
    widest = max(len(m) for m in masses)
    if gap is None:  # at most a third of the column in gaps, however many programs
        gap = min(0.02, 0.33 / max(1, widest - 1))
    gap = fraction(gap, "gap", upper=1.0 / max(1, widest - 1), closed=widest == 1)
    ranks = [len(m) for m in masses]
    own = ax is None
    legend_room = 2.2 if coloring is not None and legend_loc == "right margin" else 0.0
    lines = 1 if coloring is None else 3  # text lines per label: the column's height
    height = float(np.clip(0.14 * lines * widest + 1.2, 5.0, 16.0))  # beyond, labels thin
    fig, ax = new_axes(ax, figsize=(3.2 * L + 1.5 + legend_room, height))
    cmap = plt.get_cmap("tab20")
    width = 0.06 if coloring is None else 0.1
    extents = node_extents(masses, gap)
    band_colors = (
        (lambda ell, k: cmap(k % 20)) if coloring is None else (lambda ell, k: NEUTRAL_BAND)
    )
    draw_bands(ax, flows, extents, width, min_flow, band_colors)
    texts, mass_of, segments = [], [], []
    for ell, tops in enumerate(extents):
        genes = _specific_genes(adata, key, ell + 1, n_genes)
        comp = None if coloring is None else _composition(adata, key, ell + 1, coloring)
        for k, (bottom, top) in enumerate(tops):
            shares = None if comp is None else comp[k]
            colors = cmap(k % 20) if comp is None else coloring.colors
            segments += node_segments(ell, bottom, top, width, shares, colors)
            ha, dx = ("right", -width) if ell == 0 and L > 1 else ("left", width)
            names = [] if coloring is None else coloring.categories
            texts.append(
                ax.text(
                    ell + dx,
                    0.5 * (bottom + top),
                    _label(k, genes[k], shares, names),
                    ha=ha,
                    va="center",
                    fontsize=7,
                    linespacing=1.1,
                    bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1},
                )
            )
            mass_of.append(masses[ell][k])
    draw_nodes(ax, segments)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(range(L), [f"layer {ell + 1}\n(r={ranks[ell]})" for ell in range(L)])
    ax.set_yticks([])
    ax.set_ylabel("share of the modelled counts")
    ax.set_xlabel("layer (finest left; r programs each)")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    what = "specific genes" if coloring is None else f"{labels} composition and specific genes"
    ax.set_title(f"deep NMF hierarchy: programs by {what}", fontsize=10)
    if coloring is not None:
        add_legend(ax, coloring, legend_loc, title=str(labels))
    first = texts[: ranks[0]] if L > 1 else []
    last = texts[-ranks[-1] :]
    left_end, right_start = (-width, L - 1 + width) if L > 1 else (-width / 2, width)
    widths = (widest_label(first), widest_label(last))  # in pixels: the same at any layout
    for _ in range(2 if own else 1):  # the layout and the label room depend on each other
        fit_xlim(ax, widths, left_end, right_start)
        if own:
            fig.tight_layout()
    renderer_of(fig)
    start = 0
    for ell, r in enumerate(ranks):  # labels apart, a leader line to a label that moved
        for text, anchor in spread_vertically(ax, texts[start : start + r], -0.02, 1.02):
            x, y = text.get_position()
            edge = ell - width / 2 if x < ell else ell + width / 2
            ax.plot([edge, x], [anchor, y], color="0.45", lw=0.5, zorder=1)
        start += r
    biggest_first = [texts[i] for i in np.argsort(-np.asarray(mass_of), kind="stable")]
    thin(biggest_first, pad=0.5, avoid=[ax.title])
    return finish(fig, ax, show=show, return_fig=return_fig, save=save, name="deep_hierarchy")


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
    save: str | bool | None = None,
):
    """Per-layer error of deep NMF next to the multilayer baseline (when it was computed).

    The error of layer ℓ is the β-divergence of the fit's ``W[ℓ]·H[ℓ]`` from the layer
    below, ``W[ℓ−1]`` (the data X for layer 1). Without a baseline (``tl.deep_nmf`` computes
    it only with ``multilayer_baseline=True``) the deep errors are drawn alone and the title
    says so.

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
    fig, ax = new_axes(ax, figsize=(1.2 * L + 2.5, 3.6))
    params = _result(adata, key, (U.ERRORS,)).get(U.PARAMS, {})
    divergence = _divergence(params.get("beta_loss") if isinstance(params, Mapping) else None)
    if relative:
        ratio = 100.0 * deep / np.asarray(multi, dtype=np.float64)
        ax.bar(x, ratio, color="#3a6ea5")
        ax.axhline(100.0, color="0.3", lw=0.8, ls="--")
        for xi, value in zip(x, ratio, strict=True):
            ax.text(xi, value, f"{value:.0f}%", ha="center", va="bottom", fontsize=8)
        ax.set_ylabel("deep / multilayer error (%)")
        ax.set_title("deep NMF error relative to the multilayer baseline", fontsize=10)
    else:
        w = 0.38 if multi is not None else 0.6
        ax.bar(x - (w / 2 if multi is not None else 0), deep, w, label="deep", color="#3a6ea5")
        if multi is not None:
            ax.bar(x + w / 2, np.asarray(multi), w, label="multilayer", color="#c8a04a")
            ax.set_title("deep vs multilayer NMF: error per layer", fontsize=10)
        else:  # the baseline is opt-in: say why there is no comparison, and how to get one
            ax.set_title(
                "deep NMF: error per layer\nmultilayer baseline not computed "
                "(multilayer_baseline=True)",
                fontsize=9,
            )
        ax.legend(frameon=False, fontsize=8)
        beta = f"β-divergence, {divergence}" if divergence.startswith("β") else divergence
        ax.set_ylabel(f"error ({beta or 'β-divergence'})")
        if log:
            ax.set_yscale("log")
            plain_log_numbers(ax.yaxis)
    ax.set_xticks(x, [f"layer {i}" for i in x])
    # plain text: W[ℓ]·H[ℓ] against W[ℓ−1], layer 0 being the data
    ax.set_xlabel("layer ℓ: error of Wℓ·Hℓ against Wℓ₋₁ (W₀ = X)", fontsize=8)
    return finish(fig, ax, show=show, return_fig=return_fig, save=save, name="layer_errors")
