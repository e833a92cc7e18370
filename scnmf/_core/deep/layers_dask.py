"""Layer 1 of deep β-NMF on a dask array: map over cell blocks, reduce on the driver.

``X`` is genes × cells (deep-NMF orientation) whose transpose, the cells × genes matrix, is
chunked along cells with all genes in one chunk (numpy or scipy CSR chunks), exactly as
:mod:`.distributed` expects for ``tl.nmf``. The cell factor ``H_1`` (r_1 × cells) and the
engine state of the multilayer initialisation are split with the data: block b holds its
columns ``H_1[:, b]``, and with a ``dask.distributed`` client they stay on the workers.

* Multilayer initialisation (plain β-MU): per iteration one map, in which each block
  updates its rows of the cell factor and returns its share of the gene-factor reductions
  (the per-block work of :func:`scnmf._core.distributed.dask_mu`), and one reduce, in which
  the driver sums them and updates the gene factor.
* Deep sweeps: the H-step ratios ``C``, ``D`` of each block are computed and kept where the
  block is; the H-step itself is blockwise (MU; or, under ``H_1 e = e``, a blockwise scale
  followed by a division by the summed row sums; for β ≠ 1 the Newton multipliers need one
  r_1-vector reduction per Newton iteration). The ``W_1`` step gets its ratios (genes × r_1)
  summed over the blocks and runs on the driver, with the deeper layers, in numpy.

Every per-block computation is the in-memory engine's (:func:`scnmf._core.mu.make_ops`), so
the result equals the in-memory fit up to floating-point summation order. Without a
client, data blocks are recomputed for every pass (streamed from their source) and the
per-block factors live in driver memory.
"""

from __future__ import annotations

import numpy as np

from .._backends.dask import _as_block, _check_chunks
from ..nmf.beta import beta_divergence
from ..nmf.mu import _apply, mm_exponent
from ..nmf.ops_dask import _mu_block, _mu_loss_block
from ..nmf.ops_numpy import make_ops
from .layers_host import as_f64, as_f64_den, phase_reporter
from .updates import FLOOR, _ratio, mu_step

#: Arguments larger than this are scattered once to every worker instead of being embedded
#: in each task.
_SCATTER_BYTES = 1 << 20


# --------------------------------------------------------------------------------------
# Per-block functions (module level, so workers can unpickle them)
# --------------------------------------------------------------------------------------
def _block_sum(block) -> tuple[float]:
    return (float(block.sum(dtype=np.float64)),)


def _engine_loss(block, A_b, B, beta, dtype) -> tuple[float]:
    return (float(_mu_loss_block(block, A_b, B, beta, dtype)),)


def _activities(A_b) -> tuple[np.ndarray]:
    return (np.maximum(np.asarray(A_b, dtype=np.float64).T, FLOOR),)


def _h_terms(block, H_b, W, beta, dtype):
    num, den, loss = make_ops(_as_block(block, dtype), beta).w_terms(H_b.T, W.T)
    return as_f64(num).T, as_f64_den(den).T, float(loss)


def _w_terms(block, H_b, W, beta, dtype):
    num, den = make_ops(_as_block(block, dtype), beta).h_terms(H_b.T, W.T)
    return as_f64(num), as_f64(den)


def _error(block, H_b, W, beta, dtype) -> tuple[float]:
    return (float(beta_divergence(_as_block(block, dtype), H_b.T, W.T, beta)),)


def _mu_h(H_b, C_b, D_b) -> tuple[np.ndarray]:
    return (mu_step(H_b, C_b, D_b),)


def _scaled_by_c(H_b, C_b):
    """Unnormalised closed-form KL step ``max(ε, H ⊙ C)`` and its row sums."""
    new = H_b * C_b
    np.maximum(new, FLOOR, out=new)
    return new, new.sum(axis=1)


def _newton_start(H_b, C_b, D_b, beta) -> tuple[np.ndarray]:
    """Per-block share of :func:`scnmf._core.deep_updates._newton_start` (β = 3/2, 2)."""
    D_b = np.broadcast_to(D_b, C_b.shape)
    if beta == 2:
        return (np.min(D_b / H_b - C_b, axis=1),)
    sqrt_h = np.sqrt(H_b)
    return (np.min(D_b / sqrt_h - C_b * sqrt_h, axis=1),)


def _newton_partials(H_b, C_b, D_b, mu, idx, beta):
    """Per-block share of f(μ) + 1 and f'(μ) for the rows ``idx``."""
    D_b = np.broadcast_to(D_b, C_b.shape)
    r, dr = _ratio(C_b[idx], D_b[idx], mu, beta)
    return np.sum(H_b[idx] * r, axis=1), np.sum(H_b[idx] * dr, axis=1)


def _newton_apply(H_b, C_b, D_b, mu, beta):
    """Unnormalised constrained step ``max(ε, H ⊙ r(μ))`` and its row sums."""
    new = H_b * _ratio(C_b, np.broadcast_to(D_b, C_b.shape), mu, beta)[0]
    np.maximum(new, FLOOR, out=new)
    return new, new.sum(axis=1)


def _scale(H_b, s, divide) -> tuple[np.ndarray]:
    return (H_b / s[:, None] if divide else H_b * s[:, None],)


def _row_sums(H_b) -> tuple[np.ndarray]:
    return (H_b.sum(axis=1),)


def _item(result, j):
    return result[j]


def _tail(result, n):
    return result[n:]


# --------------------------------------------------------------------------------------
# Block runner
# --------------------------------------------------------------------------------------
class _Blocks:
    """Per-block tasks over the row blocks of a cells × genes dask array.

    With an active ``dask.distributed`` client the data blocks are computed once onto the
    workers and per-block states are futures that stay there; otherwise tasks run with the
    local scheduler (data blocks recomputed per pass) and states are numpy arrays.
    """

    def __init__(self, Xc):
        try:
            from distributed import get_client

            self.client = get_client()
        except (ImportError, ValueError):
            self.client = None
        delayed = list(Xc.to_delayed().ravel())
        self.edges = np.cumsum([0, *Xc.chunks[0]])
        self.data = self.client.compute(delayed) if self.client is not None else delayed

    @property
    def n_blocks(self) -> int:
        return len(self.data)

    def split_cells(self, M: np.ndarray) -> list:
        """Per-block pieces of ``M``'s rows along the cells (``M`` cells × r)."""
        parts = [
            np.ascontiguousarray(M[a:b])
            for a, b in zip(self.edges[:-1], self.edges[1:], strict=True)
        ]
        return self.client.scatter(parts) if self.client is not None else parts

    def gather(self, handles: list) -> list:
        """Per-block states as numpy arrays on the driver."""
        return self.client.gather(handles) if self.client is not None else list(handles)

    def run(self, fn, *, states=(), args=(), data=False, n_state=0, values=True):
        """Apply ``fn([X_b,] *states_b, *args)`` to every block.

        ``fn`` returns a tuple whose first ``n_state`` items are new per-block states (left
        where the block is) and whose other items are small values brought to the driver.
        With ``values=False`` nothing is brought back and, on a cluster, the call does not
        wait: the tasks run while the driver goes on.

        Returns
        -------
        new_states
            ``n_state`` lists of per-block handles.
        values
            Per block, the tuple of the other items (empty with ``values=False``).
        """
        n = self.n_blocks
        if self.client is None:
            if data:
                import dask

                call = dask.delayed(fn, pure=False)
                outs = dask.compute(
                    *[call(self.data[b], *[s[b] for s in states], *args) for b in range(n)]
                )
            else:
                outs = [fn(*[s[b] for s in states], *args) for b in range(n)]
            return [[o[j] for o in outs] for j in range(n_state)], [o[n_state:] for o in outs]
        client = self.client
        shared = [
            client.scatter(a, broadcast=True)
            if isinstance(a, np.ndarray) and a.nbytes > _SCATTER_BYTES
            else a
            for a in args
        ]
        futures = [
            client.submit(
                fn,
                *([self.data[b]] if data else []),
                *[s[b] for s in states],
                *shared,
                pure=False,
            )
            for b in range(n)
        ]
        new_states = [
            [client.submit(_item, f, j, pure=False) for f in futures] for j in range(n_state)
        ]
        if not values:
            return new_states, []
        tails = client.gather([client.submit(_tail, f, n_state, pure=False) for f in futures])
        return new_states, tails


# --------------------------------------------------------------------------------------
# The layer-1 backend
# --------------------------------------------------------------------------------------
class DaskLayer1:
    """Layer 1 of deep β-NMF on a dask array (interface of :mod:`.deep_backends`).

    Parameters
    ----------
    X
        Dask array, genes × cells, whose transpose is chunked along cells only.
    beta
        β of the divergence (1, 1.5 or 2).
    """

    def __init__(self, X, beta: float):
        Xc = X.T
        _check_chunks(Xc)
        self.shape = X.shape
        self.dtype = np.dtype(X.dtype)
        self.beta = float(beta)
        self.blocks = _Blocks(Xc)
        self._A: list | None = None
        self._B: np.ndarray | None = None
        self._H: list | None = None
        self._pending: tuple[list, list] | None = None

    def _data_run(self, fn, W: np.ndarray, n_state: int = 0):
        return self.blocks.run(
            fn, states=[self._H], args=(W, self.beta, self.dtype), data=True, n_state=n_state
        )

    def mean(self) -> float:
        """Mean entry of ``X`` (one pass)."""
        _, sums = self.blocks.run(_block_sum, data=True)
        return sum(v[0] for v in sums) / (self.shape[0] * self.shape[1])

    def start_engine(self, A: np.ndarray, B: np.ndarray) -> None:
        """Engine state: ``A`` (cells × r) split over the blocks, ``B`` (r × genes) here."""
        self._A = self.blocks.split_cells(np.asarray(A, dtype=self.dtype))
        self._B = np.array(B, dtype=self.dtype, order="C")

    def run_engine(self, n_iter: int, callback, phase: str) -> None:
        """``n_iter`` β-MU iterations: cell factor blockwise, gene factor from reductions."""
        if n_iter == 0:
            return

        report = phase_reporter(callback, phase)
        gamma = mm_exponent(self.beta)
        args = (self.beta, self.dtype)
        for iteration in range(n_iter):
            (A,), outs = self.blocks.run(
                _mu_block, states=[self._A], args=(self._B, *args), data=True, n_state=1
            )
            report(iteration, float(sum(o[0] for o in outs)))
            self._A = A
            _apply(self._B, sum(o[1] for o in outs), sum(o[2] for o in outs), gamma, self.beta)
        _, outs = self.blocks.run(_engine_loss, states=[self._A], args=(self._B, *args), data=True)
        report(n_iter, float(sum(o[0] for o in outs)))

    def engine_programs(self) -> np.ndarray:
        """``W_1 = max(Bᵀ, ε)``, float64, genes × r."""
        return np.maximum(np.asarray(self._B, dtype=np.float64).T, FLOOR)

    def activities_from_engine(self) -> None:
        """``H_1 = max(Aᵀ, ε)``, float64, blockwise."""
        (self._H,), _ = self.blocks.run(_activities, states=[self._A], n_state=1, values=False)

    def h_terms(self, W: np.ndarray) -> float:
        """Blockwise H-step ratios (kept with the blocks); returns D_β(X | W H_1)."""
        (C, D), outs = self._data_run(_h_terms, W, n_state=2)
        self._pending = (C, D)
        return float(sum(o[0] for o in outs))

    def h_update(self, kind: str) -> None:
        """The H-step (``'mu'`` or ``'simplex'``), blockwise."""
        C, D = self._pending
        self._pending = None
        run = self.blocks.run
        if kind == "mu":
            (self._H,), _ = run(_mu_h, states=[self._H, C, D], n_state=1, values=False)
            return
        if self.beta == 1:
            # D = W_1ᵀ1 is constant along rows: the closed form (scale by C, renormalise).
            (new,), outs = run(_scaled_by_c, states=[self._H, C], n_state=1)
        else:
            mu = self._multipliers(C, D)
            (new,), outs = run(
                _newton_apply, states=[self._H, C, D], args=(mu, self.beta), n_state=1
            )
        s = sum(o[0] for o in outs)
        (self._H,), _ = run(_scale, states=[new], args=(s, True), n_state=1, values=False)

    def _multipliers(self, C, D, tol: float = 1e-12, max_iter: int = 100) -> np.ndarray:
        """:func:`scnmf._core.deep_updates.row_multipliers` with blockwise sums."""
        states = [self._H, C, D]
        _, starts = self.blocks.run(_newton_start, states=states, args=(self.beta,))
        mu = np.min(np.vstack([o[0] for o in starts]), axis=0)
        active = np.ones(mu.shape, dtype=bool)
        for _ in range(max_iter):
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            _, parts = self.blocks.run(
                _newton_partials, states=states, args=(mu[idx], idx, self.beta)
            )
            f = sum(p[0] for p in parts) - 1.0
            df = sum(p[1] for p in parts)
            step = np.where(df > 0, f / np.where(df > 0, df, 1.0), 0.0)
            mu[idx] -= step
            done = np.abs(step) <= tol * np.maximum(1.0, np.abs(mu[idx]))
            active[idx[done]] = False
        return mu

    def w_terms(self, W: np.ndarray):
        """(C, D) for the update of ``W_1``, summed over the blocks (genes × r, float64)."""
        _, outs = self._data_run(_w_terms, W)
        return sum(o[0] for o in outs).T, sum(o[1] for o in outs).T

    def error(self, W: np.ndarray) -> float:
        """D_β(X | W H_1), summed over the blocks."""
        _, outs = self._data_run(_error, W)
        return float(sum(o[0] for o in outs))

    def row_sums(self) -> np.ndarray:
        """Row sums of ``H_1``."""
        _, outs = self.blocks.run(_row_sums, states=[self._H])
        return sum(o[0] for o in outs)

    def scale_rows(self, s: np.ndarray, divide: bool) -> None:
        """``H_1 ← H_1 ⊘ s`` or ``H_1 ⊙ s`` per row, blockwise."""
        (self._H,), _ = self.blocks.run(
            _scale, states=[self._H], args=(np.asarray(s), divide), n_state=1, values=False
        )

    def fetch(self) -> np.ndarray:
        """``H_1`` gathered on the driver (r × cells, float64)."""
        return np.hstack(self.blocks.gather(self._H))

    def close(self) -> None:
        """Release the per-block states and the data blocks held on the cluster."""
        self._A = self._H = self._pending = None
        self.blocks = None
