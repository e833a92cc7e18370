"""Result container shared by the NMF solvers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class NMFResult:
    """Factors and convergence record of one fit.

    Orientation: ``X`` (n × m, cells × genes) ≈ ``W`` (n × k) @ ``H`` (k × m).

    Attributes
    ----------
    W
        Cell activities, n × k.
    H
        Gene loadings (programs as rows), k × m.
    loss
        Objective before the first update and after each iteration (length ``n_iter + 1``).
    n_iter
        Number of completed iterations.
    converged
        Whether the relative-tolerance criterion stopped the run before ``max_iter``.
    extra
        Solver-specific arrays (e.g. decoded weights for AGD).
    """

    W: np.ndarray
    H: np.ndarray
    loss: np.ndarray
    n_iter: int
    converged: bool
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def has_converged(losses: list, tol: float) -> bool:
    """Relative decrease of the last step below ``tol`` (never true when ``tol == 0``).

    Entries may be arrays (one loss per fit of a batch): then every fit must have converged.
    """
    if tol <= 0 or len(losses) < 2:
        return False
    previous, current = losses[-2], losses[-1]
    return bool(np.all((previous - current) <= tol * np.abs(previous)))
