"""Where does AGD win? Recovery of planted programs: AGD vs MU and HALS over a grid of conditions.

Grid: latent weight correlation (``--corrs``) × noise (``--noises``) × sparsity of the weights
(``--densities``: the probability that a program is active in a cell; 1 = dense) ×
``--seeds``. Data: the real PBMC gene programs of ``scnmf.datasets.correlated_programs`` (as
in ``benchmarks/agd_recovery.py``) mixed by weights built here, whose on/off pattern and
amplitudes share one Gaussian copula (:func:`correlated_weights`), so that the realised weight
correlation spans 0 to 0.9; the generator's own weights stop near 0.3. Error: relative
Frobenius error of unit-norm programs after Hungarian matching
(``scnmf.metrics.matched_relative_error``).

Four comparisons per condition, every fit a ``scnmf.tl.nmf`` call:

* **matched iterations**: from one shared warm start (NNDSVDa + ``--warm`` iterations of
  ``--warm-solver``, by default HALS as ``solver='agd'`` itself does: AGD needs a "mild" start
  and a short MU start is too far from the truth for it), AGD runs ``--iters`` stages (each
  one decode and ``n_inner`` = 50 gradient steps), MU (Frobenius) and HALS ``--iters``
  iterations (``tol=0``);
* **matched time**: MU and HALS from the same start, with their iteration count scaled so
  their run time equals AGD's (``iters × t_AGD / t_method``, from the timed matched-iteration
  runs). Time is process CPU time with numba and BLAS pinned to one thread: on a shared
  machine wall time mostly measures the neighbours, and single-threaded CPU time is what
  wall time would be on an idle core;
* **defaults**: what a user gets from a bare call, ``tl.nmf(adata, k, solver=…)`` (AGD: its
  200 HALS warm-start iterations, then 100 stages; HALS and MU: up to 200 iterations,
  ``tol=1e-4``), and HALS from its default start run (``tol=0``) for the default AGD call's
  time.

AGD "wins" a condition against HALS when its error is lower on every seed.

Run::

    nice python benchmarks/agd_map.py            # the map in results/agd_map.md (+ .png)
    nice python benchmarks/agd_map.py --quick    # 1 seed, 2 correlations (a smoke run)
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import anndata as ad
import numpy as np
from _common import factors, from_start, machine, markdown_table, nmf, quiet

import scnmf as snmf
from scnmf.datasets import correlated_programs
from scnmf.metrics import matched_relative_error

RESULTS = Path(__file__).resolve().parent / "results"
#: Comparisons (column groups) and the methods compared in each.
COMPARISONS = {
    "iters": ("AGD", "MU", "HALS"),
    "time": ("MU", "HALS"),  # AGD's own time is the budget; its error is the "iters" one
    "default": ("AGD", "MU", "HALS"),
}


def _programs_from_start(method: str, X, W, H, n: int) -> np.ndarray:
    """Programs (k × genes) after ``n`` iterations (AGD: stages) from the shared start."""
    if method == "AGD":  # no further warm-start iterations: the stages start from (W, H)
        kw = {"solver": "agd", "max_iter": 0, "agd_options": {"n_stages": n, "warm_start": "mu"}}
    else:
        kw = {"solver": method.lower(), "beta_loss": "frobenius", "max_iter": n}
    return factors(from_start(X, W, H, tol=0, **kw))[1]


def _default_call(method: str, X, k: int, seed: int, **kwargs) -> tuple[np.ndarray, int]:
    """Programs and iteration count of ``tl.nmf(adata, k, solver=method)`` (+ ``kwargs``)."""
    adata = ad.AnnData(X)
    snmf.tl.nmf(adata, k, solver=method.lower(), random_state=seed, **kwargs)
    return factors(adata)[1], int(adata.uns["nmf"]["n_iter"])


def timed(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and the CPU seconds it took (one thread, see :func:`main`).

    On a shared machine wall time measures the neighbours' load; with every thread pool
    pinned to one thread, process CPU time is the reproducible form of "the same time".
    """
    start = time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - start


def correlated_weights(rng, n: int, k: int, rho: float, density: float) -> np.ndarray:
    """n × k weights whose on/off pattern *and* amplitudes share a Gaussian copula of corr. ρ.

    Latent ``z_ij = √ρ s_i + √(1 − ρ) e_ij``; a program is active where ``z_ij`` exceeds the
    threshold giving probability ``density`` (every cell keeps its top program); the amplitude
    is the Gamma(2, 0.5) quantile of ``Φ(z_ij)``. Unlike the generator's independent
    amplitudes (realised Pearson correlation ≤ 0.3 at ρ = 0.95), this reaches the correlations
    of the paper's correlated topic model (about 0.9 at ρ = 0.95 when dense).
    """
    from scipy.stats import gamma, norm

    z = np.sqrt(rho) * rng.standard_normal((n, 1)) + np.sqrt(1 - rho) * rng.standard_normal((n, k))
    W = gamma.ppf(norm.cdf(z), 2.0, scale=0.5)
    if density < 1:
        active = z > norm.ppf(1.0 - density)
        active[np.arange(n), z.argmax(axis=1)] = True
        W *= active
    return W


def make_data(corr: float, noise: float, density: float, seed: int, args):
    """``X = W* H* (+ noise)``: real programs ``H*`` of the public generator, weights above.

    Same scale and noise model as :func:`scnmf.datasets.correlated_programs` (mean signal
    ``depth`` = 1000 per cell; Gaussian noise of sd ``noise`` × RMS of ``W* H*``, clipped at 0).
    Returns ``X`` (float64), the true programs (k × genes) and the realised mean pairwise
    Pearson correlation of the weights.
    """
    truth = correlated_programs(10, args.genes, args.k, random_state=0).varm["true_programs"].T
    rng = np.random.default_rng(seed)
    W = correlated_weights(rng, args.cells, args.k, corr, density)
    W *= 1000.0 / W.sum(axis=1).mean()
    X = W @ truth
    if noise > 0:
        sd = noise * float(np.sqrt(np.mean(X**2)))
        X = np.maximum(X + sd * rng.standard_normal(X.shape), 0.0)
    C = np.corrcoef(W.T)
    return X, truth, float(np.mean(C[~np.eye(args.k, dtype=bool)]))


def one(corr: float, noise: float, density: float, seed: int, args) -> dict[str, float]:
    """Errors of every method and comparison on one generated set."""
    X, truth, weight_corr = make_data(corr, noise, density, seed, args)
    warm = nmf(X, args.k, solver=args.warm_solver, max_iter=args.warm, tol=0, random_state=seed)
    W, H = factors(warm)
    row: dict[str, float] = {"warm": matched_relative_error(truth, H)}
    row["weight_corr"] = weight_corr
    seconds = {}
    for method in COMPARISONS["iters"]:
        est, seconds[method] = timed(_programs_from_start, method, X, W, H, args.iters)
        row[f"iters:{method}"] = matched_relative_error(truth, est)
    for method in COMPARISONS["time"]:
        n = max(1, round(args.iters * seconds["AGD"] / max(seconds[method], 1e-9)))
        est = _programs_from_start(method, X, W, H, n)
        row[f"time:{method}"] = matched_relative_error(truth, est)
        row[f"time:{method}:iters"] = n
    n_iter = {}
    for method in COMPARISONS["default"]:
        (est, n_iter[method]), seconds[f"default:{method}"] = timed(
            _default_call, method, X, args.k, seed
        )
        row[f"default:{method}"] = matched_relative_error(truth, est)
    # HALS from its own default start, run (tol=0) for as long as the default AGD call took:
    # separates "AGD's stages help" from "AGD's call simply does more work than HALS's".
    n = max(1, round(n_iter["HALS"] * seconds["default:AGD"] / seconds["default:HALS"]))
    est, _ = _default_call("HALS", X, args.k, seed, max_iter=n, tol=0)
    row["default-time:HALS"] = matched_relative_error(truth, est)
    row["default-time:HALS:iters"] = n
    row["t_agd"] = seconds["AGD"]
    return row


def _cell(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def _wins(rows: list[dict], a: str, b: str) -> str:
    """``a`` against ``b``: win (lower on every seed), loss (higher on every seed) or mixed."""
    diff = np.array([r[a] - r[b] for r in rows])
    return "**win**" if np.all(diff < 0) else "loss" if np.all(diff > 0) else "mixed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--genes", type=int, default=300)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--warm-solver", choices=["hals", "mu"], default="hals")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--corrs", type=float, nargs="+", default=[0.0, 0.5, 0.8, 0.95])
    parser.add_argument("--noises", type=float, nargs="+", default=[0.0, 0.2])
    parser.add_argument("--densities", type=float, nargs="+", default=[0.2, 1.0])
    parser.add_argument("--out", default=str(RESULTS / "agd_map.md"), help="(and .png)")
    args = parser.parse_args()
    quiet()
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)  # every method on one thread: CPU time is comparable
    threadpool_limits(1)
    if args.quick:
        args.seeds, args.corrs = 1, [0.0, 0.95]
    start = time.perf_counter()
    grid = list(itertools.product(args.densities, args.noises, args.corrs))
    header = [
        "density",
        "noise",
        "ρ (weight r)",
        "warm",
        "AGD",
        "MU",
        "HALS",
        "MU @AGD time",
        "HALS @AGD time",
        "AGD default",
        "MU default",
        "HALS default",
        "HALS @AGD-default time",
        "AGD vs HALS: iters / time / default / default time",
    ]
    table, summary = [], []
    for density, noise, corr in grid:
        rows = [one(corr, noise, density, seed, args) for seed in range(args.seeds)]
        col = {key: [r[key] for r in rows] for key in rows[0]}
        verdict = [
            _wins(rows, "iters:AGD", "iters:HALS"),
            _wins(rows, "iters:AGD", "time:HALS"),
            _wins(rows, "default:AGD", "default:HALS"),
            _wins(rows, "default:AGD", "default-time:HALS"),
        ]
        summary.append(((density, noise, corr), verdict, col))
        table.append(
            [
                f"{density:g}",
                f"{noise:g}",
                f"{corr:g} ({np.mean(col['weight_corr']):.2f})",
                _cell(col["warm"]),
                _cell(col["iters:AGD"]),
                _cell(col["iters:MU"]),
                _cell(col["iters:HALS"]),
                _cell(col["time:MU"]),
                _cell(col["time:HALS"]),
                _cell(col["default:AGD"]),
                _cell(col["default:MU"]),
                _cell(col["default:HALS"]),
                _cell(col["default-time:HALS"]),
                " / ".join(verdict),
            ]
        )
        print(" | ".join(table[-1]), f"(AGD {np.mean(col['t_agd']):.2f} s)", flush=True)
    elapsed = time.perf_counter() - start
    hals_iters = [np.mean(c["time:HALS:iters"]) for _, _, c in summary]
    mu_iters = [np.mean(c["time:MU:iters"]) for _, _, c in summary]
    t_agd = [np.mean(c["t_agd"]) for _, _, c in summary]
    hd_iters = [np.mean(c["default-time:HALS:iters"]) for _, _, c in summary]
    wins = {
        name: [key for key, verdict, _ in summary if verdict[i] == "**win**"]
        for i, name in enumerate(
            ("matched iterations", "matched time", "defaults", "defaults, matched time")
        )
    }
    text = (
        "# Where AGD wins: recovery map against MU and HALS (issue 16, item 4)\n\n"
        f"Command: `python benchmarks/agd_map.py{' --quick' if args.quick else ''}` "
        f"({elapsed / 60:.1f} min on {machine()}; wall time on a shared machine; "
        "every thread pool pinned to one thread and times measured as process CPU time).\n\n"
        f"Data: n = {args.cells} cells, m = {args.genes} genes, k = {args.k} real PBMC "
        "programs (those of `scnmf.datasets.correlated_programs`) mixed by weights whose "
        "on/off pattern and Gamma amplitudes share a Gaussian copula of correlation ρ "
        "(`correlated_weights` in the script; the generator's own weights reach a Pearson "
        "correlation of only 0.3). density = probability that a program is active in a cell "
        "(1 = every program in every cell, as the paper's correlated topic model); in "
        "brackets the realised mean Pearson correlation of the weights; noise = Gaussian sd "
        "relative to the signal's RMS, clipped at 0. "
        f"Seeds 0–{args.seeds - 1}. Error: relative Frobenius error of unit-norm programs "
        "after Hungarian matching (`scnmf.metrics.matched_relative_error`), mean ± sd; lower "
        "is better.\n\n"
        f"- **AGD, MU, HALS**: {args.iters} iterations (AGD: stages of 50 gradient steps) "
        f"from the same warm start (NNDSVDa + {args.warm} {args.warm_solver.upper()} "
        "iterations; its error "
        "is the *warm* column).\n"
        "- **@AGD time**: the same start, iterations scaled to AGD's (CPU) time "
        f"(AGD took {min(t_agd):.2f}–{max(t_agd):.2f} s; HALS then ran "
        f"{min(hals_iters):.0f}–{max(hals_iters):.0f} iterations, MU "
        f"{min(mu_iters):.0f}–{max(mu_iters):.0f}).\n"
        "- **default**: a bare `tl.nmf(adata, k, solver=…)` on the data (AGD = 200 HALS "
        "iterations, then 100 stages; HALS and MU up to 200 iterations, tol 1e-4); "
        "*HALS @AGD-default time*: HALS from its default start with tol 0, iterations scaled "
        f"to the default AGD call's time ({min(hd_iters):.0f}–{max(hd_iters):.0f}).\n"
        "- **AGD vs HALS**: *win* = AGD lower on every seed, *loss* = higher on every seed.\n\n"
        + markdown_table(header, table)
        + "\n\n## Where AGD wins against HALS\n\n"
        + "".join(
            f"- {name}: "
            + (
                ", ".join(f"density {d:g}, noise {s:g}, ρ {c:g}" for d, s, c in keys)
                if keys
                else "nowhere"
            )
            + f" ({len(keys)} of {len(summary)} conditions)\n"
            for name, keys in wins.items()
        )
        + "\n"
        + _conclusion(summary, wins)
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    _plot(summary, args, out.with_suffix(".png"))
    print(text)


def _conclusion(summary, wins: dict[str, list]) -> str:
    """The plain statement: where AGD beats HALS (and MU), and what that means for a user."""
    ratio = [np.mean(c["iters:AGD"]) / np.mean(c["time:HALS"]) for _, _, c in summary]
    n = len(summary)
    mu = {
        label: sum(_wins_rows(c, "iters:AGD", key) for _, _, c in summary)
        for label, key in (("matched iterations", "iters:MU"), ("matched time", "time:MU"))
    }
    against_mu = (
        f"Against MU, AGD wins {mu['matched iterations']} of {n} conditions at matched "
        f"iterations and {mu['matched time']} at matched time."
    )
    head = "## Conclusion\n\n"
    if wins["matched iterations"] or wins["matched time"] or wins["defaults, matched time"]:
        return (
            f"{head}AGD beats HALS only in the conditions listed above; everywhere else HALS "
            f"recovers the programs at least as well on some seed. {against_mu}\n"
        )
    # Where the ratio is near 1, say how well the best method does there (all may fail).
    close = [c for (_, _, c), r in zip(summary, ratio, strict=True) if r < 1.3]
    close_note = ""
    if close:
        best = min(min(np.mean(v) for k, v in c.items() if _is_error(k)) for c in close)
        close_note = (
            f"; within 1.3× only in {len(close)} conditions, where even the best method's "
            f"mean error is {best:.2f} or more"
        )
    early = len(wins["defaults"])
    default_note = (
        f"AGD's default call beats HALS's default call in {early} of {n} conditions, only "
        "because it runs longer (HALS's default stops at tol 1e-4): HALS run for the time of "
        "the default AGD call is not beaten by it anywhere. "
        if early
        else ""
    )
    return (
        f"{head}**AGD wins nowhere against HALS.** At matched iterations and at matched time "
        f"AGD is not lower than HALS on every seed in any of the {n} conditions; at matched "
        f"time its mean error is {min(ratio):.2f}–{max(ratio):.1f}× HALS's{close_note}. "
        "This holds at every correlation, noise level and sparsity tested, "
        f"including the strongly correlated weights AGD was designed for. {default_note}"
        f"{against_mu} AGD stays in scnmf as the paper's method (Li & Liang 2017) for study "
        "and comparison; to recover programs, use HALS (`solver='hals'`, the default for "
        "Frobenius), with a smaller `tol` or more `max_iter` when accuracy matters.\n"
    )


def _is_error(key: str) -> bool:
    """Whether a result key is a method's recovery error (not a count, time or the start)."""
    return ":" in key and not key.endswith(":iters")


def _wins_rows(col: dict[str, list], a: str, b: str) -> bool:
    """Whether ``a`` is lower than ``b`` on every seed (columns of one condition)."""
    return bool(np.all(np.asarray(col[a]) < np.asarray(col[b])))


def _plot(summary, args, path: Path) -> None:
    """log10(AGD error / HALS error) per condition: below 0 (blue) AGD recovers better."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("iters:HALS", "matched iterations"), ("time:HALS", "matched time"))
    rows = [(d, s) for d in args.densities for s in args.noises]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.6 * len(rows) + 2.2), sharey=True)
    for ax, (hals, title) in zip(axes, panels, strict=True):
        grid = np.full((len(rows), len(args.corrs)), np.nan)
        for (d, s, c), _, col in summary:
            ratio = np.mean(col["iters:AGD"]) / np.mean(col[hals])
            grid[rows.index((d, s)), args.corrs.index(c)] = np.log10(ratio)
        image = ax.imshow(grid, cmap="RdBu_r", vmin=-1.5, vmax=1.5, aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, f"{10**v:.2g}×", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(args.corrs)), [f"{c:g}" for c in args.corrs])
        ax.set_yticks(range(len(rows)), [f"density {d:g}, noise {s:g}" for d, s in rows])
        ax.set_xlabel("latent correlation ρ of the activities")
        ax.set_title(f"AGD error / HALS error, {title}", fontsize=10)
    fig.colorbar(image, ax=axes, label="log10(AGD / HALS); < 0: AGD better", shrink=0.8)
    fig.savefig(path, dpi=120, bbox_inches="tight")


if __name__ == "__main__":
    main()
