"""The alternating loop shared by every NMF solver (MU, HALS) on every backend.

A solver is a *steps* object; a backend supplies the arrays it works on. The loop itself
never touches an array, so numba, torch and dask run the same iteration, the same stopping
rule and the same callbacks:

``w_terms(W, H) -> (terms, loss)``
    Everything the W update needs, and the loss of the current iterate ``(W, H)`` (computed
    in the same pass, so the loss history costs nothing extra).
``update_W(W, terms) -> W``
    The W step (in place, or a new handle for backends whose W lives elsewhere).
    A batch of independent fits (:mod:`.batch`) returns one loss per fit; the loop then
    stops when every fit has converged, and the history has one column per fit.
``h_terms(W, H) -> terms`` and ``update_H(H, terms) -> H``
    The same for H, at the updated W.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from .result import NMFResult, has_converged

#: ``callback(iteration, loss)`` after every loss evaluation; returning ``True`` stops the fit.
Callback = Callable[[int, float], bool | None]


class Steps(Protocol):
    """One solver's updates on one backend (see the module docstring)."""

    def w_terms(self, W: Any, H: Any) -> tuple[Any, float]: ...  # noqa: D102

    def update_W(self, W: Any, terms: Any) -> Any: ...  # noqa: D102

    def h_terms(self, W: Any, H: Any) -> Any: ...  # noqa: D102

    def update_H(self, H: Any, terms: Any) -> Any: ...  # noqa: D102


def alternate(
    steps: Steps,
    W: Any,
    H: Any,
    *,
    max_iter: int,
    tol: float,
    update_W: bool = True,
    update_H: bool = True,
    callback: Callback | None = None,
) -> NMFResult:
    """Alternate W and H steps until the relative loss decrease falls below ``tol``.

    The loss is evaluated before the first update and after every iteration, so the history
    has ``n_iter + 1`` entries; ``tol=0`` runs exactly ``max_iter`` iterations.

    Returns
    -------
    NMFResult
        The factors in the backend's representation (the caller converts them), the loss
        history, ``n_iter`` and ``converged``.
    """
    losses: list = []
    converged = False
    n_iter = 0
    for iteration in range(max_iter + 1):
        terms, loss = steps.w_terms(W, H)
        losses.append(float(loss) if np.ndim(loss) == 0 else np.asarray(loss, dtype=np.float64))
        if callback is not None and callback(iteration, float(np.sum(losses[-1]))):
            break
        if has_converged(losses, tol):
            converged = True
            break
        if iteration == max_iter:
            break
        if update_W:
            W = steps.update_W(W, terms)
        if update_H:
            H = steps.update_H(H, steps.h_terms(W, H))
        n_iter = iteration + 1
    return NMFResult(W=W, H=H, loss=np.asarray(losses), n_iter=n_iter, converged=converged)
