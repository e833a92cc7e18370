"""The warning of a fit that stopped at its iteration limit with its tolerance unmet."""

from __future__ import annotations

import numpy as np
from scanpy import logging as logg


def warn_unconverged(
    what: str,
    *,
    converged: bool,
    max_iter: int,
    tol: float,
    loss: np.ndarray | None = None,
    limit: str = "max_iter",
    tol_name: str = "tol",
) -> None:
    """Warn (scanpy's ``logg.warning``) that ``what`` stopped at ``limit`` unconverged.

    Silent when it converged, when ``tol == 0`` (every iteration is run on purpose) and when
    ``max_iter == 0`` (no iteration was asked for). With the objective trace ``loss`` the
    message gives the last relative decrease, the number that did not fall below ``tol``.
    """
    if converged or tol <= 0 or max_iter == 0:
        return
    decrease = ""
    trace = None if loss is None else np.asarray(loss, dtype=np.float64).ravel()
    if trace is not None and trace.size >= 2 and trace[-2] != 0:
        decrease = f"{abs(trace[-2] - trace[-1]) / abs(trace[-2]):.2g} "
    logg.warning(
        f"{what} stopped at {limit}={max_iter} unconverged (relative decrease {decrease}> "
        f"{tol_name}={tol:g}); raise {limit}"
    )
