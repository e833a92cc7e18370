"""Settings of ``tl.pnmf(preset=...)`` (issue 16: defaults chosen by a study)."""

from __future__ import annotations

#: Per preset: the λs that ``lambda_*=None`` take, the ε-graph edge weights and the scaling
#: of each scale's Laplacian (``scnmf._core.pnmf.pnmf.KERNELS`` / ``GRAPH_SCALINGS``).
#: ``'default'`` was chosen by ``benchmarks/pnmf_defaults.py`` (results in
#: ``benchmarks/results/pnmf_defaults.md``): unit-free graphs (weights exp(−(d/ε)²),
#: Laplacians divided by their mean weighted degree) and λ = (1, 10, 1), the centre of a
#: plateau: every neighbouring setting stayed within 0.011 of NMF or above it on every
#: set. ``'reference'`` is the reference code's scRNA-seq setting.
PNMF_PRESETS: dict[str, dict] = {
    "default": {
        "lambda_graph": 1.0,
        "lambda_scale": 10.0,
        "lambda_anchor": 1.0,
        "kernel": "relative",
        "graph_scaling": "mean_degree",
    },
    "reference": {
        "lambda_graph": 1.0,
        "lambda_scale": 1.0,
        "lambda_anchor": 1.0,
        "kernel": "reference",
        "graph_scaling": "none",
    },
}
