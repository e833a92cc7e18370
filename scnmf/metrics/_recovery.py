"""Recovery metrics for planted gene programs (programs as rows, k × m)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def _unit_rows(P: np.ndarray) -> np.ndarray:
    P = np.asarray(P, dtype=np.float64)
    norms = np.linalg.norm(P, axis=1, keepdims=True)
    return P / np.where(norms > 0, norms, 1.0)


def cosine_matrix(H_true: np.ndarray, H_est: np.ndarray) -> np.ndarray:
    """Cosine similarities between true (rows) and estimated (columns) programs.

    Parameters
    ----------
    H_true, H_est
        Programs as rows, k × m and k' × m.

    Returns
    -------
    numpy.ndarray
        k × k' matrix of ``cos(h*_i, h_j)``.
    """
    return _unit_rows(H_true) @ _unit_rows(H_est).T


def cosine_error(H_true: np.ndarray, H_est: np.ndarray) -> float:
    """The paper's recovery error ``Σ_i (1 − max_j cos²(h*_i, h_j))``.

    Equal to the summed squared distance of each normalised true program to the best scaled
    estimated program (Li & Liang 2017, semi-synthetic experiments). No one-to-one matching is
    imposed: two estimates collapsing onto one true program are not penalised for it, which
    :func:`matched_relative_error` catches.

    Parameters
    ----------
    H_true, H_est
        Programs as rows, k × m and k' × m.

    Returns
    -------
    float
        Error in ``[0, k]``; 0 for exact recovery up to scaling and order.
    """
    cos = cosine_matrix(H_true, H_est)
    return float(np.sum(1.0 - np.max(cos**2, axis=1)))


def match_programs(H_true: np.ndarray, H_est: np.ndarray) -> np.ndarray:
    """One-to-one matching of estimated to true programs maximising total cosine (Hungarian).

    Parameters
    ----------
    H_true, H_est
        Programs as rows, both k × m.

    Returns
    -------
    numpy.ndarray
        ``perm`` with ``H_est[perm[i]]`` matched to ``H_true[i]``.
    """
    cos = cosine_matrix(H_true, H_est)
    rows, cols = linear_sum_assignment(-cos)
    perm = np.empty(cos.shape[0], dtype=np.int64)
    perm[rows] = cols
    return perm


def matched_relative_error(H_true: np.ndarray, H_est: np.ndarray) -> float:
    """Relative Frobenius error of unit-normalised programs after Hungarian matching.

    Both sets of programs are scaled to unit ℓ2 norm per program (NMF fixes programs only up
    to scale), matched one-to-one by :func:`match_programs`, and compared as
    ``‖Ĥ[perm] − H*‖_F / ‖H*‖_F`` (the denominator is ``√k``).

    Parameters
    ----------
    H_true, H_est
        Programs as rows, both k × m.

    Returns
    -------
    float
        0 for exact recovery; about ``√2`` for orthogonal programs.
    """
    T = _unit_rows(H_true)
    E = _unit_rows(H_est)[match_programs(H_true, H_est)]
    return float(np.linalg.norm(E - T) / np.linalg.norm(T))
