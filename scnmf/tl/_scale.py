"""Rescaling of data of extreme magnitude, and mapping a fit's results back.

Every ``tl`` factorisation fits ``X / s`` with ``s`` the data's largest value when that lies
outside [1e-3, 1e4] (float32 products of such data under- or overflow), refuses before any
work an objective that float64 cannot hold (or a penalty weight that would overflow it), and
scales the results back: the factor that carries the data's scale by ``s``, an objective
homogeneous of degree d in the data by ``s^d`` (through logarithms, so it cannot overflow on
the way).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._core._backends import is_lazy, lazy_summary

#: Largest and smallest decimal exponent an objective may have: float64 spans 1e±308; the
#: margin covers a first iterate worse than the data's own magnitude.
_LOG10_MAX = 300.0
_LOG10_MIN = -290.0
#: Headroom left in the working dtype for products that involve a penalty weight.
_DTYPE_HEADROOM = 1e-3


def rescale_extreme(X, low: float = 1e-3, high: float = 1e4):
    """Bring data of extreme magnitude to order one (float32 would under/overflow in products).

    The one rescaling every ``tl`` factorisation applies. Returns the matrix to fit and the
    factor ``s`` with ``X = s · returned``; data whose largest value already lies in
    [``low``, ``high``] is returned as is with ``s = 1``. The caller's data is never
    modified (a rescaled matrix is a copy; a lazy one is divided block by block). Map the
    results back with :func:`unscale` (objectives, homogeneous of some degree in ``X``) and
    :func:`unscale_factor` (the factor that carries the data's scale).
    """
    if is_lazy(X):
        peak = float(lazy_summary(X)["max"])
    else:
        values = X.data if sp.issparse(X) else X
        peak = float(values.max()) if values.size else 1.0
    if not np.isfinite(peak) or peak <= 0 or low <= peak <= high:
        return X, 1.0
    if is_lazy(X):
        return X.map_blocks(_divide_block, peak, dtype=X.dtype, meta=X._meta), peak
    return _divide_block(X, peak), peak


def _divide_block(X, peak: float):
    """``X / peak`` in ``X``'s dtype, as a new matrix (sparse stays sparse)."""
    if sp.issparse(X):
        X = X.copy()
        X.data /= X.dtype.type(peak)
        return X
    return np.asarray(X) / np.asarray(X).dtype.type(peak)


def _log10_sum_power(X, degree: float) -> float:
    """log10 Σ x^degree over the entries of ``X`` (zeros contribute 0).

    A lazy matrix gives the upper bound ``nnz · max^degree`` from one summary pass.
    """
    if is_lazy(X):
        summary = lazy_summary(X)
        if summary["nnz"] == 0 or summary["max"] <= 0:
            return -np.inf
        return float(np.log10(summary["nnz"]) + degree * np.log10(summary["max"]))
    values = X.data if sp.issparse(X) else np.asarray(X).reshape(-1)
    total = 0.0
    for start in range(0, values.size, 1 << 20):  # bounded float64 temporaries
        chunk = values[start : start + (1 << 20)].astype(np.float64)
        total += float(chunk.sum() if degree == 1 else np.sum(chunk**degree))
    return float(np.log10(total)) if total > 0 else -np.inf


def check_magnitude(
    X,
    scale: float,
    degree: float,
    *,
    what: str,
    n_components: int = 1,
    penalties: dict[str, tuple[float, float]] | None = None,
) -> None:
    """Refuse, before any work, a fit whose objective cannot be represented.

    ``X`` is the (rescaled) order-one matrix and ``scale`` the factor
    :func:`rescale_extreme` divided by; the objective is homogeneous of degree ``degree``
    in the data (``X`` ↦ ``sX`` multiplies it by ``s^degree``), so its magnitude is about
    ``s^degree · Σ x^degree``. ``penalties`` maps a weight's parameter name to
    ``(value, c)``, the penalty being at most ``value · c · k · ‖X‖²`` (graph terms:
    ``c = 2 n``, at most n neighbours of weight ≤ 1); such a weight must also leave the
    products of the working dtype finite.

    Raises
    ------
    ValueError
        Naming the magnitude and the fix (divide or multiply the data by a constant, or a
        smaller weight).
    """
    if degree == 0:
        return
    log_scale = float(np.log10(scale))
    log_data = _log10_sum_power(X, degree)
    if not np.isfinite(log_data):  # no positive entry: get_matrix refuses such data
        return
    log_objective = log_data + degree * log_scale
    if log_objective > _LOG10_MAX or log_objective < _LOG10_MIN:
        big = log_objective > 0
        raise ValueError(
            f"The {what} of this data is about 1e{log_objective:+.0f} (values up to "
            f"{scale:.3g}), outside the float64 range (1e±308), so its losses could not be "
            f"stored. {'Divide' if big else 'Multiply'} the data by a constant first, e.g. "
            f"adata.layers['scaled'] = adata.X {'/' if big else '*'} "
            f"{10.0 ** round(abs(log_scale)):.0e} and pass layer='scaled'."
        )
    if not penalties:
        return
    dtype_max = float(np.finfo(np.float64 if X.dtype == np.float64 else np.float32).max)
    log_sq = _log10_sum_power(X, 2.0)
    for name, (value, c) in penalties.items():
        if value <= 0:
            continue
        # float64 objective: value · c · k · ‖X‖² · s² ≤ 1e300; working dtype: the products
        # value · (A W)_ik ≤ value · c · √k · ‖X‖_F stay below its largest number.
        log_allowed = min(
            _LOG10_MAX - np.log10(c * n_components) - log_sq - 2.0 * log_scale,
            np.log10(dtype_max * _DTYPE_HEADROOM / (c * np.sqrt(n_components))) - 0.5 * log_sq,
        )
        if np.log10(value) > log_allowed:
            raise ValueError(
                f"{name}={value:g} is too large for this data: the penalty it weights would "
                f"overflow the objective (or the {X.dtype} products the fit computes in). "
                f"Use {name} ≤ {10.0**log_allowed:.3g}; far smaller values already make the "
                "penalty dominate the fit."
            )


def unscale(values, scale: float, degree: float, what: str) -> np.ndarray:
    """``values · scale^degree`` in float64 (the results of a fit on ``X / scale``).

    Computed through logarithms when ``scale^degree`` itself over- or underflows, so
    data near 1e160 give their true loss (1e320 would not be representable, and is
    refused by :func:`check_magnitude` before the fit; an overflow here raises).
    """
    values = np.asarray(values, dtype=np.float64)
    if scale == 1.0 or degree == 0 or values.size == 0:
        return values
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        factor = float(np.float64(scale) ** np.float64(degree))
        if np.isfinite(factor) and factor >= np.finfo(np.float64).tiny:
            out = values * factor
        else:
            log_abs = np.log(np.abs(values)) + degree * np.log(float(scale))
            out = np.where(values == 0, 0.0, np.sign(values) * np.exp(log_abs))
    if not np.isfinite(out).all():
        raise FloatingPointError(
            f"The {what} of this fit exceeds the float64 range once scaled back to the data, "
            "so nothing was stored; divide the data by a constant (e.g. "
            "adata.layers['scaled'] = adata.X / 1e100, then layer='scaled')."
        )
    return out


def unscale_factor(F: np.ndarray, scale: float, what: str) -> np.ndarray:
    """The factor that carries the data's scale, ``F · scale``, back in ``F``'s dtype."""
    if scale == 1.0:
        return F
    with np.errstate(over="ignore", under="ignore"):
        out = (np.asarray(F, dtype=np.float64) * float(scale)).astype(F.dtype)
    if not np.isfinite(out).all():
        raise FloatingPointError(
            f"The {what} exceed the range of {F.dtype} once scaled back to the data (values "
            f"up to {scale:.3g}), so nothing was stored; fit float64 data "
            "(adata.X.astype(np.float64)) or divide the data by a constant."
        )
    return out
