"""Regularisation options of ``tl.nmf``: scikit-learn's ``alpha_W``, ``alpha_H``, ``l1_ratio``.

The option rules (:data:`PENALTY_RULES`, part of ``NMF_PARAMS``), the constraint with the
solver, and the one translation into the core's :class:`~scnmf._core.nmf.penalty.Penalty`
for the matrix actually fitted (its shape, the rescaling of extreme data, and a weight so
large that the fit's products would overflow, refused before any work). ``tl.project`` can
rebuild a reference's regularisation from what :func:`penalty_params` stores.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .._core.nmf.penalty import FactorPenalty, Penalty
from ._rules import AnyOf, Choice, Real, Rule, listing, option_error

#: ``alpha_H='same'``: the programs take ``alpha_W``, as in scikit-learn.
SAME = "same"

PENALTY_RULES: dict[str, Rule] = {
    "alpha_W": Real(fix="It weights the penalty on the cell activities (0: none), e.g. 0.01."),
    "alpha_H": AnyOf(
        (Choice((SAME,)), Real(fix="It weights the penalty on the programs, e.g. 0.01."))
    ),
    "l1_ratio": Real(
        0.0, maximum=1.0, closed=True, fix="0 is a ridge (L2), 1 a lasso (L1) penalty."
    ),
}

#: Headroom left below the working dtype's largest number by a penalty weight (the
#: denominators and Gram diagonals it is added to, and l2 · F, stay finite).
_HEADROOM = 1e-3


def resolved_alpha_H(alpha_W: float, alpha_H: float | str) -> float:
    """``alpha_H`` as a number (``'same'``: ``alpha_W``)."""
    return float(alpha_W) if alpha_H == SAME else float(alpha_H)


def penalty_needs_mu_or_hals(o: SimpleNamespace) -> None:
    """A table check: AGD has no penalty, so it refuses ``alpha_W``/``alpha_H`` > 0."""
    if o.solver == "agd" and max(o.alpha_W, resolved_alpha_H(o.alpha_W, o.alpha_H)) > 0:
        raise option_error(
            "solver",
            o.solver,
            f"{listing(('auto', 'hals', 'mu'))} with alpha_W or alpha_H > 0",
            fix="AGD's thresholding stages have no L1/L2 penalty; use solver='hals' (or "
            "'mu') with alpha_W/alpha_H, or alpha_W=0 and alpha_H=0 with solver='agd'.",
        )


def penalty_params(alpha_W: float, alpha_H: float | str, l1_ratio: float) -> dict[str, float]:
    """What ``uns[key]['params']`` records (h5ad-safe floats; ``alpha_H`` resolved)."""
    return {
        "alpha_W": float(alpha_W),
        "alpha_H": resolved_alpha_H(alpha_W, alpha_H),
        "l1_ratio": float(l1_ratio),
    }


def fit_penalty(
    alpha_W: float,
    alpha_H: float | str,
    l1_ratio: float,
    shape: tuple[int, int],
    *,
    scale: float = 1.0,
    beta: float = 2.0,
    dtype=np.float32,
    n_components: int = 1,
) -> Penalty:
    """The core's penalty for fitting the (rescaled) matrix of ``shape``.

    scikit-learn's weights for the data's own ``shape`` (n cells × m genes used), mapped to
    the units of ``X / scale`` (:meth:`Penalty.rescaled`), so the fit minimises the same
    objective as on the data itself and its loss scales back by ``scale^β``.

    Raises
    ------
    ValueError
        When a weight would overflow the fit's ``dtype`` products or the float64 objective,
        naming the largest accepted value of the option.
    """
    fitted = Penalty.from_alpha(shape, alpha_W, alpha_H, l1_ratio).rescaled(scale, beta)
    n, m = shape
    dtype_max = float(np.finfo(np.float64 if np.dtype(dtype) == np.float64 else np.float32).max)
    # A penalty weight enters the working dtype's sums, and the objective l·Σ F with
    # Σ F ≲ rows · k for order-one factors: both must stay finite.
    limit = min(_HEADROOM * dtype_max, 1e300 / (max(n, m) * max(1, n_components)))
    given = {"alpha_W": float(alpha_W), "alpha_H": resolved_alpha_H(alpha_W, alpha_H)}
    with np.errstate(over="ignore", under="ignore"):
        s = np.float64(scale)
        units = {"alpha_W": m * max(s ** (1.0 - beta), s ** (2.0 - beta)), "alpha_H": n * s**-beta}
    for name, term in (("alpha_W", fitted.W), ("alpha_H", fitted.H)):
        per_unit = float(units[name])
        worst = _largest(term)
        if given[name] > 0 and (not np.isfinite(worst) or worst > limit):
            raise ValueError(
                f"{name}={given[name]:g} is too large for this data: its penalty weight would "
                f"overflow the {np.dtype(dtype)} products of the fit (or its objective). Use "
                f"{name} ≤ {limit / per_unit:.3g}; far smaller values already make the "
                "penalty dominate (every factor goes to zero)."
            )
    return fitted


def _largest(term: FactorPenalty) -> float:
    return max(term.l1, term.l2)
