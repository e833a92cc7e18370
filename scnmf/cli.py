"""Command line: ``scnmf demo`` and ``scnmf nmf|pnmf|deep|consensus IN.h5ad -o OUT.h5ad``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import _keys as C
from ._io import check_output_file, check_output_folder, write_h5ad_atomic


def _beta(value: str) -> str | float:
    try:
        return float(value)
    except ValueError:
        return value


def _read(path: str):
    import anndata as ad

    p = Path(path)
    if p.is_dir():
        raise ValueError(f"input {p} is a folder, not a file; give the path of an .h5ad file.")
    if not p.is_file():
        raise FileNotFoundError(f"input file {p} does not exist; check the path.")
    if not os.access(p, os.R_OK):
        raise ValueError(f"cannot read the input {p}: permission denied; check its permissions.")
    try:
        return ad.read_h5ad(p)
    except Exception as err:  # h5py/anndata raise many types for a bad file
        raise ValueError(f"could not read {p} as an .h5ad file: {err}") from err


def save_figures(adata, plots: list[tuple[str, object, dict]], figures: Path) -> list[Path]:
    """Draw each ``(file stem, pl function, kwargs)`` into ``figures/<stem>.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, draw, kwargs in plots:
        fig = draw(adata, show=False, return_fig=True, **kwargs)
        path = figures / f"{stem}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written


def _finish(adata, args, plots) -> int:
    write_h5ad_atomic(adata, Path(args.output), args.force)
    args.written = True
    print(f"wrote {args.output}")
    if args.figures:
        for path in save_figures(adata, plots, Path(args.figures)):
            print(f"wrote {path}")
    return 0


def _check_output(args) -> None:
    """Every problem with ``-o`` and ``--figures``, found before the input is read."""
    check_output_file(args.output, args.force, what="output (-o)")
    if args.figures:
        check_output_folder(args.figures, what="--figures")


def cmd_nmf(args: argparse.Namespace) -> int:
    """Run ``tl.nmf`` on a file."""
    from . import pl, tl

    _check_output(args)
    adata = _read(args.input)
    tl.nmf(
        adata,
        args.n_components,
        beta_loss=_beta(args.beta_loss),
        solver=args.solver,
        init=args.init,
        max_iter=args.max_iter,
        tol=args.tol,
        **_shared_kwargs(args),
        device=args.device,
    )
    key = args.key_added
    plots = [(f"{key}_loadings", pl.loadings, {"key": key}), (f"{key}_loss", pl.loss, {"key": key})]
    return _finish(adata, args, plots)


def cmd_pnmf(args: argparse.Namespace) -> int:
    """Run ``tl.persistence`` then ``tl.pnmf`` on a file."""
    from . import pl, tl

    _check_output(args)
    adata = _read(args.input)
    scales = "all" if args.all_scales else None
    tl.persistence(
        adata,
        use_rep=args.use_rep,
        n_neighbors=args.n_neighbors,
        n_scales=args.n_scales,
        scales=scales,
        random_state=args.random_state,
    )
    tl.pnmf(
        adata,
        args.n_components,
        preset=args.preset,
        lambda_graph=args.lambda_graph,
        lambda_scale=args.lambda_scale,
        lambda_anchor=args.lambda_anchor,
        n_sweeps=args.n_sweeps,
        **_shared_kwargs(args),
    )
    key = args.key_added
    plots = [
        ("persistence", pl.persistence, {}),
        ("persistence_diagram", pl.persistence_diagram, {}),
        ("barcode", pl.barcode, {}),
        (f"{key}_scale_path", pl.scale_path, {"key": key}),
    ]
    return _finish(adata, args, plots)


def cmd_deep(args: argparse.Namespace) -> int:
    """Run ``tl.deep_nmf`` on a file."""
    from . import pl, tl

    _check_output(args)
    adata = _read(args.input)
    if args.labels and args.labels not in adata.obs:
        raise KeyError(f"--labels {args.labels!r} is not a column of adata.obs")
    tl.deep_nmf(
        adata,
        ranks=tuple(args.ranks),
        beta_loss=_beta(args.beta_loss),
        min_volume=args.min_volume,
        n_init_iter=args.n_init_iter,
        max_iter=args.max_iter,
        **_shared_kwargs(args),
    )
    key = args.key_added
    hierarchy_kwargs = {"key": key}
    if args.labels:
        hierarchy_kwargs["labels"] = args.labels
    plots = [
        (f"{key}_hierarchy", pl.deep_hierarchy, hierarchy_kwargs),
        (f"{key}_layer_errors", pl.layer_errors, {"key": key}),
    ]
    return _finish(adata, args, plots)


def parse_ranks(text: str) -> list[int]:
    """``--n-components``: ``7``, ``5-12`` (inclusive), ``5-12:2`` (step) or ``5,7,9``."""
    ranks: list[int] = []
    for part in text.replace(" ", "").split(","):
        span, _, step = part.partition(":")
        low, dash, high = span.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
            stride = int(step) if step else 1
        except ValueError:
            first, last, stride = 0, -1, 0
        if not part or stride < 1 or last < first or (step and not dash):
            raise ValueError(
                f"--n-components {text!r} is not a list of ranks; write e.g. 7, 5-12 "
                "(5 to 12), 5-12:2 (every second) or 5,7,9."
            )
        ranks.extend(range(first, last + 1, stride))
    return ranks


def cmd_consensus(args: argparse.Namespace) -> int:
    """Run ``tl.consensus_nmf`` on a file."""
    from . import tl

    ranks = parse_ranks(args.n_components)
    _check_output(args)
    adata = _read(args.input)
    tl.consensus_nmf(
        adata,
        ranks,
        n_replicates=args.n_replicates,
        beta_loss=_beta(args.beta_loss),
        solver=args.solver,
        init=args.init,
        max_iter=args.max_iter,
        tol=args.tol,
        density_threshold=args.density_threshold,
        local_neighborhood_size=args.local_neighborhood_size,
        select=args.select,
        use_raw=args.use_raw,
        **_shared_kwargs(args),
        device=args.device,
    )
    plots = []
    if args.figures:  # imported only when drawn: the fit needs no plotting
        from . import pl

        key = {"key": args.key_added}
        plots = [
            ("k_selection", pl.k_selection, key),
            ("consensus_clustergram", pl.consensus_clustergram, key),
        ]
    return _finish(adata, args, plots)


def _shared_kwargs(args: argparse.Namespace) -> dict:
    """Options every fitting command passes on: matrix selection, seed and key."""
    shared = {"layer": args.layer, "random_state": args.random_state, "key_added": args.key_added}
    if args.all_genes:  # otherwise tl's default: var['highly_variable'] when present
        shared["mask_var"] = None
    return shared


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
    _common_arguments(nmf, key=C.NMF_KEY)
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
    nmf.add_argument("--device", default="auto", help="cpu | cuda | auto (GPU needs scnmf[gpu])")
    nmf.set_defaults(func=cmd_nmf)

    pnmf = sub.add_parser("pnmf", help="persistent (multi-scale) NMF of an .h5ad file")
    _common_arguments(pnmf, key=C.PNMF_KEY)
    pnmf.add_argument("--use-rep", default=None, help="obsm key for the cell graph (default X_pca)")
    pnmf.add_argument("--n-neighbors", type=int, default=15)
    pnmf.add_argument("--n-scales", type=int, default=8)
    pnmf.add_argument("--all-scales", action="store_true", help="every H0 death is a scale")
    pnmf.add_argument(
        "--preset",
        choices=["default", "reference"],
        default="default",
        help="default: the study's unit-free settings; reference: the paper's code",
    )
    pnmf.add_argument("--lambda-graph", type=float, default=None, help="overrides the preset")
    pnmf.add_argument("--lambda-scale", type=float, default=None, help="overrides the preset")
    pnmf.add_argument("--lambda-anchor", type=float, default=None, help="overrides the preset")
    pnmf.add_argument("--n-sweeps", type=int, default=10)
    pnmf.set_defaults(func=cmd_pnmf)

    deep = sub.add_parser("deep", help="deep β-NMF (hierarchy of programs) of an .h5ad file")
    deep.add_argument("input", help="input .h5ad (cells × genes, nonnegative)")
    deep.add_argument("-o", "--output", required=True, help="output .h5ad")
    deep.add_argument(
        "--ranks",
        type=int,
        nargs="+",
        default=[10, 5, 2],
        help="strictly decreasing ranks, e.g. --ranks 20 10 5",
    )
    deep.add_argument("--beta-loss", default="kullback-leibler")
    deep.add_argument("--min-volume", action="store_true", help="minimum-volume variant (KL)")
    deep.add_argument("--n-init-iter", type=int, default=500)
    deep.add_argument("--max-iter", type=int, default=500)
    deep.add_argument("--labels", default=None, help="obs column to label the hierarchy plot")
    _shared_options(deep, key=C.DEEP_NMF_KEY)
    deep.set_defaults(func=cmd_deep)

    cnmf = sub.add_parser("consensus", help="consensus NMF (cNMF) and choosing k")
    cnmf.add_argument("input", help="input .h5ad (cells × genes, nonnegative)")
    cnmf.add_argument("-o", "--output", required=True, help="output .h5ad")
    cnmf.add_argument(
        "-k", "--n-components", default="5-12", help="ranks: 7, 5-12, 5-12:2 or 5,7,9"
    )
    cnmf.add_argument("--n-replicates", type=int, default=100)
    cnmf.add_argument("--beta-loss", default="frobenius")
    cnmf.add_argument("--solver", default="auto", choices=["auto", "mu", "hals"])
    cnmf.add_argument("--init", default="random", choices=["random", "nndsvdar"])
    cnmf.add_argument("--max-iter", type=int, default=1000)
    cnmf.add_argument("--tol", type=float, default=1e-4)
    cnmf.add_argument("--density-threshold", type=float, default=0.5)
    cnmf.add_argument("--local-neighborhood-size", type=float, default=0.3)
    cnmf.add_argument("--select", type=int, default=None, help="k to store (default: most stable)")
    cnmf.add_argument("--use-raw", action="store_true", help="factorise adata.raw.X")
    cnmf.add_argument("--device", default="auto", help="cpu | cuda | auto (GPU needs scnmf[gpu])")
    _shared_options(cnmf, key=C.CONSENSUS_KEY)
    cnmf.set_defaults(func=cmd_consensus)
    return parser


def _common_arguments(parser: argparse.ArgumentParser, key: str) -> None:
    parser.add_argument("input", help="input .h5ad (cells × genes, nonnegative)")
    parser.add_argument("-o", "--output", required=True, help="output .h5ad")
    parser.add_argument("-k", "--n-components", type=int, default=10)
    _shared_options(parser, key)


def _shared_options(parser: argparse.ArgumentParser, key: str) -> None:
    parser.add_argument("--layer", default=None)
    parser.add_argument(
        "--all-genes", action="store_true", help="ignore var['highly_variable'] and use every gene"
    )
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--key-added", default=key)
    parser.add_argument("--figures", default=None, help="folder for the standard plots")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")


def _describe(err: BaseException) -> str:
    """The message of an error, without Python's quoting of ``KeyError`` or raw errno text."""
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    if isinstance(err, OSError) and err.strerror:  # raised by the OS, not by scnmf
        where = f" ({err.filename})" if err.filename else ""
        return f"{err.strerror.lower()}{where}."
    return str(err)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scnmf`` command.

    Exit status: 0 on success, 2 for an error (a one-line message on stderr; the output is
    written only after a successful fit, atomically), 130 when interrupted with Ctrl-C.
    """
    from ._core.memory import InsufficientMemoryError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, TypeError, OSError, InsufficientMemoryError) as err:
        print(f"scnmf {args.command}: error: {_describe(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        done = f"{args.output} was written" if getattr(args, "written", False) else None
        print(
            f"scnmf {args.command}: interrupted; {done or 'no output was written'}.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
