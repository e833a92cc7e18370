"""L1/L2 regularisation of the NMF factors (scikit-learn's ``alpha_W``, ``alpha_H``, ``l1_ratio``).

Orientation: ``X`` n × m (cells × genes) ≈ ``W`` (n × k) ``H`` (k × m). The penalised
objective is

    D_β(X | WH) + l1_W Σ W + ½ l2_W ‖W‖²_F + l1_H Σ H + ½ l2_H ‖H‖²_F

with scikit-learn's weights (``NMF._compute_regularization``), which scale with the data
so that the same α means about the same thing for any number of cells or genes: with
ρ = ``l1_ratio``, l1_W = m α_W ρ, l2_W = m α_W (1 − ρ), l1_H = n α_H ρ, l2_H = n α_H (1 − ρ).

The solvers use a :class:`Penalty` through two transformations of their own terms, written
here once for every backend (numpy arrays and torch tensors alike):

* MU adds the penalty's gradient l1 + l2 F to the denominator of the step (the positive
  part of the gradient, as scikit-learn's MU does for every β);
* HALS subtracts l1 from B = X Fᵀ and adds l2 to the diagonal of the Gram matrix G: the
  column update ``max(0, A + (B − A G)/G_cc)`` is then the exact coordinate minimiser of
  the penalised objective (scikit-learn's ``cd`` does the same).

Both are elementwise or on the Gram diagonal, so they act unchanged on a batch of fits
held side by side (:mod:`.batch`; the batch's Gram is block diagonal) and on dask's row
blocks (the W penalty per block, the H penalty once on the driver: :mod:`.ops_dask`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

#: Rows of a factor converted to float64 at a time when the penalty is evaluated.
_BLOCK_ROWS = 1 << 16


def _host(x) -> np.ndarray:
    """A float64 numpy copy of a small (k,) result (a tensor may live on a device)."""
    return np.asarray(x.cpu().numpy() if hasattr(x, "cpu") else x, dtype=np.float64)


def _program_sums(F, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Per program: (Σ F, Σ F²) in float64; programs lie along ``axis`` of ``F``."""
    if axis == 0:
        F = F.T
    total = square = 0.0
    for start in range(0, F.shape[0], _BLOCK_ROWS):
        block = F[start : start + _BLOCK_ROWS]
        # numpy in float64 blocks; a torch tensor stays on its device
        block = np.asarray(block, np.float64) if isinstance(block, np.ndarray) else block.double()
        total = total + block.sum(0)
        square = square + (block * block).sum(0)
    return _host(total), _host(square)


def _plus_diagonal(G, value: float):
    """``G + value · I`` as a new array or tensor (the Gram's own dtype and device)."""
    if isinstance(G, np.ndarray):
        out = np.array(G, copy=True)
        out[np.diag_indices_from(out)] += value
        return out
    out = G.clone()
    out.diagonal().add_(value)
    return out


def _times(weight: float, scale: float, power: float) -> float:
    """``weight · scale^power`` (inf when it overflows; 0 for no weight, never 0 · inf)."""
    if weight == 0.0:
        return 0.0
    with np.errstate(over="ignore", under="ignore"):
        return float(weight * np.power(np.float64(scale), power))


@dataclass(frozen=True)
class FactorPenalty:
    """``l1 Σ F + ½ l2 ‖F‖²_F`` on one factor ``F`` (weights already scaled by the data)."""

    l1: float = 0.0
    l2: float = 0.0

    def __bool__(self) -> bool:
        return self.l1 != 0.0 or self.l2 != 0.0

    def mu_denominator(self, denominator, F):
        """The MU denominator plus the penalty's gradient l1 + l2 F (a new array)."""
        if self.l1:
            denominator = denominator + self.l1
        if self.l2:
            denominator = denominator + self.l2 * F
        return denominator

    def hals_terms(self, B, G):
        """HALS products of the penalised problem: (B − l1, G + l2 I), as new arrays."""
        if self.l1:
            B = B - self.l1
        if self.l2:
            G = _plus_diagonal(G, self.l2)
        return B, G

    def value(self, F, groups: int = 1, axis: int = 1) -> float | np.ndarray:
        """The penalty of ``F`` in float64 (programs along ``axis``).

        With ``groups`` > 1 the programs are that many fits side by side: one value per fit.
        """
        if not self:
            return 0.0 if groups == 1 else np.zeros(groups)
        total, square = _program_sums(F, axis)
        per_program = self.l1 * total + 0.5 * self.l2 * square
        if groups == 1:
            return float(per_program.sum())
        return per_program.reshape(groups, -1).sum(axis=1)


@dataclass(frozen=True)
class Penalty:
    """The penalties of ``W`` and ``H``; ``groups`` fits side by side share them (:mod:`.batch`).

    Falsy when both are zero: the solvers then run exactly as without regularisation.
    """

    W: FactorPenalty = field(default_factory=FactorPenalty)
    H: FactorPenalty = field(default_factory=FactorPenalty)
    groups: int = 1

    @classmethod
    def from_alpha(
        cls,
        shape: tuple[int, int],
        alpha_W: float = 0.0,
        alpha_H: float | str = "same",
        l1_ratio: float = 0.0,
    ) -> Penalty:
        """scikit-learn's weights for ``X`` of ``shape`` (n × m; the whole data, not a block).

        ``alpha_H='same'`` uses ``alpha_W``; the W weights scale with m, the H weights with n.
        """
        n, m = shape
        a_W = float(alpha_W)
        a_H = a_W if isinstance(alpha_H, str) and alpha_H == "same" else float(alpha_H)
        rho = float(l1_ratio)
        return cls(
            FactorPenalty(m * a_W * rho, m * a_W * (1.0 - rho)),
            FactorPenalty(n * a_H * rho, n * a_H * (1.0 - rho)),
        )

    def __bool__(self) -> bool:
        return bool(self.W) or bool(self.H)

    def only_W(self) -> Penalty:
        """The W penalty alone (what dask's row blocks add; H is fixed there)."""
        return replace(self, H=FactorPenalty())

    def only_H(self) -> Penalty:
        """The H penalty alone (what the driver adds once to the summed H terms)."""
        return replace(self, W=FactorPenalty())

    def batched(self, groups: int) -> Penalty:
        """The same penalty on ``groups`` fits side by side."""
        return replace(self, groups=int(groups))

    def rescaled(self, scale: float, beta: float) -> Penalty:
        """The weights for fitting ``X / scale`` with ``W / scale`` (``H`` unchanged).

        D_β is homogeneous of degree β, Σ W of degree 1 and ‖W‖² of degree 2 in the scale,
        so the objective of ``X`` is ``scale^β`` times that of ``X / scale`` with the W
        weights times ``scale^(1−β)`` (l1) and ``scale^(2−β)`` (l2) and the H weights times
        ``scale^(−β)``; the minimisers correspond and the losses scale back by ``scale^β``.
        """
        if scale == 1.0 or not self:
            return self
        b = float(beta)
        return replace(
            self,
            W=FactorPenalty(_times(self.W.l1, scale, 1.0 - b), _times(self.W.l2, scale, 2.0 - b)),
            H=FactorPenalty(_times(self.H.l1, scale, -b), _times(self.H.l2, scale, -b)),
        )


#: No regularisation.
NO_PENALTY = Penalty()


def resolve_penalty(
    shape: tuple[int, int],
    penalty: Penalty | None = None,
    alpha_W: float = 0.0,
    alpha_H: float | str = "same",
    l1_ratio: float = 0.0,
) -> Penalty:
    """An explicit ``penalty``, or scikit-learn's weights from ``alpha_*`` for data of ``shape``."""
    if penalty is not None:
        if alpha_W or (not isinstance(alpha_H, str) and alpha_H):
            raise ValueError("Pass either penalty= or alpha_W/alpha_H/l1_ratio, not both.")
        return penalty
    return Penalty.from_alpha(shape, alpha_W, alpha_H, l1_ratio)
