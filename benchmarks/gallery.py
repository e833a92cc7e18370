"""Regenerate the README gallery: one figure per method, on the bundled PBMCs.

    python benchmarks/gallery.py [--out tutorials/gallery] [--fast]

Public API only (``scnmf.datasets``, ``tl``, ``pl``); every figure is written through the
``pl`` function's own ``save=`` (a path), as a user would. The bundled 700 PBMCs with their
10 labelled cell types are factorised once per method:

- ``nmf_loadings.png``: KL-NMF programs, top genes (``pl.loadings``);
- ``persistence.png``: β0 against ε and the death values, the scales pNMF uses
  (``pl.persistence``);
- ``pnmf_scale_path.png``: pNMF across scales, cells coloured by cell type on shared axes,
  and the alluvial of clusters (``pl.scale_path``);
- ``deep_nmf_hierarchy.png``: the deep KL-NMF hierarchy, each program's cell-type
  composition and most specific genes (``pl.deep_hierarchy``);
- ``consensus_k_selection.png`` and ``consensus_clustergram.png``: choosing k, and how the
  replicate programs of the chosen k agree (``pl.k_selection``, ``pl.consensus_clustergram``);
- ``activities_umap.png`` and ``programs_by_cell_type.png``: consensus program activities on
  the UMAP, and the mean activity per cell type (``pl.activities``,
  ``pl.programs_by_group``).

About two minutes on two cores (``--fast``: fewer iterations, for a smoke test).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import scanpy as sc  # noqa: E402

import scnmf as snmf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _data():
    adata = snmf.datasets.pbmc68k_counts()
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=10, random_state=0)
    return adata


def main(out: Path, fast: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    iters = 0.2 if fast else 1.0
    adata = _data()
    written = []

    def save(name: str) -> str:
        written.append(out / name)
        return str(out / name)  # a str with a folder: the file itself (see pl's save=)

    t0 = time.perf_counter()
    snmf.tl.nmf(adata, 10, beta_loss="kullback-leibler", max_iter=int(300 * iters), random_state=0)
    sc.pp.neighbors(adata, use_rep="X_nmf", random_state=0)
    sc.tl.umap(adata, random_state=0)
    # scanpy stores the cell-type colours here; every scnmf figure below reuses them
    sc.pl.umap(adata, color="label", show=False)
    plt.close("all")
    snmf.pl.loadings(adata, n_genes=8, ncols=5, show=False, save=save("nmf_loadings.png"))
    print(f"NMF {time.perf_counter() - t0:.0f} s")

    t0 = time.perf_counter()
    snmf.tl.persistence(adata, use_rep="X_pca", n_scales=6, random_state=0)
    snmf.pl.persistence(adata, show=False, save=save("persistence.png"))
    snmf.tl.pnmf(
        adata, 10, n_sweeps=max(1, int(5 * iters)), max_inner_iter=int(500 * iters), random_state=0
    )
    snmf.pl.scale_path(adata, color="label", show=False, save=save("pnmf_scale_path.png"))
    print(f"persistence + pNMF {time.perf_counter() - t0:.0f} s")

    t0 = time.perf_counter()
    snmf.tl.deep_nmf(
        adata,
        (10, 5, 3),
        layer="counts",
        n_init_iter=int(300 * iters),
        max_iter=int(200 * iters),
        random_state=0,
    )
    snmf.pl.deep_hierarchy(adata, labels="label", show=False, save=save("deep_nmf_hierarchy.png"))
    print(f"deep NMF {time.perf_counter() - t0:.0f} s")

    t0 = time.perf_counter()
    snmf.tl.consensus_nmf(
        adata,
        list(range(5, 13)),
        n_replicates=max(5, int(20 * iters)),
        max_iter=int(400 * iters),
        random_state=0,
    )
    snmf.pl.k_selection(adata, show=False, save=save("consensus_k_selection.png"))
    snmf.pl.consensus_clustergram(adata, show=False, save=save("consensus_clustergram.png"))
    if hasattr(snmf.pl, "activities"):
        snmf.pl.activities(adata, "cnmf", show=False, save=save("activities_umap.png"))
        snmf.pl.programs_by_group(
            adata, "cnmf", "label", show=False, save=save("programs_by_cell_type.png")
        )
    print(f"consensus NMF {time.perf_counter() - t0:.0f} s")
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tutorials" / "gallery")
    parser.add_argument("--fast", action="store_true", help="fewer iterations (smoke test)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    for path in main(args.out, args.fast):
        print(f"wrote {path}")
    print(f"{time.perf_counter() - t0:.0f} s in all")
