"""``tl.pnmf`` presets: the study's defaults, the reference one argument away, unit-free rule."""

import numpy as np
import pytest
import scanpy as sc

import scnmf as snmf
from scnmf._core.graph.edges import candidate_edges
from scnmf._core.pnmf.pnmf import ScaleGraphs
from scnmf.metrics import kmeans_agreement
from scnmf.tl._pnmf_presets import PNMF_PRESETS

FAST = dict(n_sweeps=2, max_inner_iter=60)


@pytest.fixture
def prepared(adata):
    """120 cells × 80 genes, log1p, float64 (tight comparisons), 10 PCs."""
    adata.X = adata.X.astype(np.float64)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=10)
    return adata


def _params(adata, key="pnmf"):
    return adata.uns[key]["params"]


def test_preset_switches_the_values(prepared):
    snmf.tl.persistence(prepared, n_scales=4)
    snmf.tl.pnmf(prepared, 3, **FAST)
    snmf.tl.pnmf(prepared, 3, preset="reference", key_added="ref", **FAST)
    default, ref = _params(prepared), _params(prepared, "ref")
    for name in ("lambda_graph", "lambda_scale", "lambda_anchor", "kernel", "graph_scaling"):
        assert default[name] == PNMF_PRESETS["default"][name]
        assert ref[name] == PNMF_PRESETS["reference"][name]
    assert default["preset"] == "default" and ref["preset"] == "reference"
    # the reference code's scRNA-seq setting
    assert (ref["lambda_graph"], ref["lambda_scale"], ref["lambda_anchor"]) == (1.0, 1.0, 1.0)
    assert (ref["kernel"], ref["graph_scaling"]) == ("reference", "none")
    assert (default["kernel"], default["graph_scaling"]) == ("relative", "mean_degree")
    assert not np.allclose(prepared.obsm["X_pnmf"], prepared.obsm["X_ref"])


def test_explicit_lambdas_override_the_preset(prepared):
    snmf.tl.persistence(prepared, n_scales=4)
    snmf.tl.pnmf(prepared, 3, preset="reference", lambda_scale=100.0, **FAST)
    p = _params(prepared)
    assert (p["lambda_graph"], p["lambda_scale"], p["lambda_anchor"]) == (1.0, 100.0, 1.0)
    assert p["kernel"] == "reference"
    snmf.tl.pnmf(prepared, 3, lambda_graph=0.0, key_added="plain", **FAST)
    assert _params(prepared, "plain")["lambda_graph"] == 0.0


def test_bad_preset_names_the_choices(prepared):
    before = set(prepared.uns)
    with pytest.raises(ValueError, match="preset.*'default' or 'reference'"):
        snmf.tl.pnmf(prepared, 3, preset="paper")
    assert set(prepared.uns) == before


def _fit(adata, scale: float, preset: str) -> np.ndarray:
    """pNMF on X·scale with its persistence on X_pca·scale (the distances' units change)."""
    a = adata.copy()
    a.X = a.X * scale
    a.obsm["X_pca"] = a.obsm["X_pca"] * scale
    snmf.tl.persistence(a, n_scales=4)
    # init='random' starts from factors that scale with X; NNDSVDA's fill (the mean of X,
    # as scikit-learn's) does not, so no NMF started from it is equivariant to X's units.
    snmf.tl.pnmf(a, 3, preset=preset, init="random", **FAST)
    return a.obsm["X_pnmf_scales"]


def test_default_rule_is_invariant_to_the_units_of_x(prepared):
    one, ten = _fit(prepared, 1.0, "default"), _fit(prepared, 10.0, "default")
    # atol: Lin's absolute floor σ = 1e-9 moves entries near zero
    np.testing.assert_allclose(ten, 10.0 * one, rtol=1e-6, atol=1e-6 * np.abs(ten).max())
    labels = np.repeat(np.arange(3), 40)
    a = kmeans_agreement(one[:, 0], labels)["ARI"]
    b = kmeans_agreement(ten[:, 0], labels)["ARI"]
    assert a == b


def test_reference_kernel_depends_on_the_units(prepared):
    """exp(−d²/ε^1.5) changes shape when distances are rescaled: what the rule removes."""
    one, ten = _fit(prepared, 1.0, "reference"), _fit(prepared, 10.0, "reference")
    rel = np.abs(ten - 10.0 * one).max() / np.abs(ten).max()
    assert rel > 1e-3


def test_mean_degree_scaling_and_relative_kernel():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 3))
    edges = candidate_edges(points)
    scales = np.quantile(edges.dists, [0.0, 0.2, 0.6, 1.0]) + [0, 0, 0, 1e-9]
    graphs = ScaleGraphs(edges, scales, kernel="relative", scaling="mean_degree")
    for t in range(1, len(scales)):
        A = graphs[t]
        assert A.nnz and np.isclose(A.sum() / 50, 1.0)  # mean weighted degree 1
    # the relative kernel is unchanged when the distances' units change
    big = ScaleGraphs(candidate_edges(points * 10), scales * 10, kernel="relative")
    small = ScaleGraphs(edges, scales, kernel="relative")
    np.testing.assert_allclose(big[2].toarray(), small[2].toarray(), rtol=1e-12)
    assert graphs[0].nnz == 0  # the finest scale stays without edges
    with pytest.raises(ValueError, match="kernel"):
        ScaleGraphs(edges, scales, kernel="gauss")
