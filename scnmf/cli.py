"""Command line: ``scnmf demo`` and ``scnmf nmf IN.h5ad -o OUT.h5ad``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def _beta(value: str) -> str | float:
    try:
        return float(value)
    except ValueError:
        return value


def write_h5ad_atomic(adata, path: Path, force: bool) -> None:
    """Write to a temporary file next to ``path`` and rename it, so no half-written file stays."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".h5ad.part", dir=path.parent)
    os.close(fd)
    try:
        adata.write_h5ad(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read(path: str):
    import anndata as ad

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"input file {p} does not exist.")
    try:
        return ad.read_h5ad(p)
    except Exception as err:  # h5py/anndata raise many types for a bad file
        raise ValueError(f"could not read {p} as an .h5ad file: {err}") from err


def _nmf_figures(adata, key: str, figures: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import pl

    figures.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in (("loadings", pl.loadings), ("loss", pl.loss)):
        fig = draw(adata, key=key, show=False, return_fig=True)
        path = figures / f"{key}_{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written


def cmd_nmf(args: argparse.Namespace) -> int:
    """Run ``tl.nmf`` on a file."""
    from . import tl

    out = Path(args.output)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it.")
    adata = _read(args.input)
    tl.nmf(
        adata,
        args.n_components,
        beta_loss=_beta(args.beta_loss),
        solver=args.solver,
        init=args.init,
        max_iter=args.max_iter,
        tol=args.tol,
        layer=args.layer,
        mask_var=None if args.all_genes else _default_mask(),
        random_state=args.random_state,
        key_added=args.key_added,
    )
    write_h5ad_atomic(adata, out, args.force)
    print(f"wrote {out}")
    if args.figures:
        for path in _nmf_figures(adata, args.key_added, Path(args.figures)):
            print(f"wrote {path}")
    return 0


def _default_mask():
    from .tl._utils import DEFAULT

    return DEFAULT


def cmd_demo(args: argparse.Namespace) -> int:
    """NMF on bundled PBMCs, figures, and agreement with the known cell types."""
    from ._demo import run_demo

    return run_demo(Path(args.out), fast=args.fast, force=args.force)


def build_parser() -> argparse.ArgumentParser:
    """The ``scnmf`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="scnmf", description="Nonnegative matrix factorisation for single-cell data."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the tour on bundled PBMC data")
    demo.add_argument("--out", default="scnmf_demo", help="output folder (default: scnmf_demo)")
    demo.add_argument("--fast", action="store_true", help="fewer iterations (for tests)")
    demo.add_argument("--force", action="store_true", help="overwrite existing outputs")
    demo.set_defaults(func=cmd_demo)

    nmf = sub.add_parser("nmf", help="β-NMF of an .h5ad file")
    nmf.add_argument("input", help="input .h5ad (cells × genes, nonnegative)")
    nmf.add_argument("-o", "--output", required=True, help="output .h5ad")
    nmf.add_argument("-k", "--n-components", type=int, default=10)
    nmf.add_argument(
        "--beta-loss",
        default="frobenius",
        help="frobenius | kullback-leibler | itakura-saito | a number β ≥ 0",
    )
    nmf.add_argument("--solver", default="auto", choices=["auto", "mu", "hals"])
    nmf.add_argument(
        "--init", default="nndsvda", choices=["nndsvd", "nndsvda", "nndsvdar", "random"]
    )
    nmf.add_argument("--max-iter", type=int, default=200)
    nmf.add_argument("--tol", type=float, default=1e-4)
    nmf.add_argument("--layer", default=None)
    nmf.add_argument(
        "--all-genes", action="store_true", help="ignore var['highly_variable'] and use every gene"
    )
    nmf.add_argument("--random-state", type=int, default=0)
    nmf.add_argument("--key-added", default="nmf")
    nmf.add_argument("--figures", default=None, help="folder for the standard plots")
    nmf.add_argument("--force", action="store_true", help="overwrite an existing output")
    nmf.set_defaults(func=cmd_nmf)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scnmf`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError, TypeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"scnmf {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
