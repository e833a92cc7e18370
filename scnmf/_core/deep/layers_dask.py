"""Layer 1 of deep β-NMF on a dask array: map over cell blocks, reduce on the driver.

``X`` is genes × cells (deep-NMF orientation) whose transpose, the cells × genes matrix, is
chunked along cells with all genes in one chunk (numpy or scipy CSR chunks), exactly as
:mod:`scnmf._core.nmf.ops_dask` expects for ``tl.nmf``. The cell factor ``H_1``
(r_1 × cells) and the engine state of the multilayer initialisation are split with the
data: block b holds its columns ``H_1[:, b]``, and with a ``dask.distributed`` client they
stay on the workers.

* Multilayer initialisation (plain β-MU): the engine's loop with the dask solver's MU
  steps (:class:`scnmf._core.nmf.ops_dask.DaskSteps`): per iteration one map, in which
  each block evaluates its loss share, updates its rows of the cell factor and returns its
  share of the gene-factor terms, and one reduce, in which the driver sums them and
  updates the gene factor.
* Deep sweeps: the H-step ratios ``C``, ``D`` of each block are computed and kept where the
  block is. The H-step is :func:`.hsteps.h_step` on block-wise rows: every block evaluates
  :class:`.hsteps.ArrayRows` on its columns and the driver reduces the per-row sums (the
  row sums of the unnormalised step; for β ≠ 1 the Newton sums, one r_1-vector reduction
  per Newton iteration). The ``W_1`` step gets its ratios (genes × r_1) summed over the
  blocks and runs on the driver, with the deeper layers, in numpy.

Every per-block computation is the in-memory backend's (:class:`.layers_host.DataTerms`,
:class:`.hsteps.ArrayRows`), so the result equals the in-memory fit up to floating-point
summation order. Without a client, data blocks are recomputed for every pass (streamed
from their source) and the per-block factors live in driver memory.
"""

from __future__ import annotations

import numpy as np

from .._backends.dask import as_block, check_row_chunks, row_block_handles
from .engine import alternate, dask_mu_steps
from .factor import phase_reporter, scale_rows
from .hsteps import ArrayRows, h_step
from .layers_host import DataTerms
from .xp import NUMPY

#: Arguments larger than this are scattered once to every worker instead of being embedded
#: in each task.
_SCATTER_BYTES = 1 << 20


# --------------------------------------------------------------------------------------
# Per-block functions (module level, so workers can unpickle them)
# --------------------------------------------------------------------------------------
def _block_sum(block) -> tuple[float]:
    return (float(block.sum(dtype=np.float64)),)


def _activities(A_b) -> tuple[np.ndarray]:
    return (NUMPY.engine_factor(A_b),)


def _terms(block, dtype, beta) -> DataTerms:
    return DataTerms(as_block(block, dtype), beta)


def _h_terms(block, H_b, W, beta, dtype):
    return _terms(block, dtype, beta).h_terms(W, H_b)


def _w_terms(block, H_b, W, beta, dtype):
    return _terms(block, dtype, beta).w_terms(W, H_b)


def _error(block, H_b, W, beta, dtype) -> tuple[float]:
    return (_terms(block, dtype, beta).error(W, H_b),)


def _rows(H_b, C_b, D_b, beta, method, *args) -> tuple:
    """``ArrayRows(H_b, C_b, D_b).method(*args)`` as a tuple."""
    out = getattr(ArrayRows(NUMPY, H_b, C_b, D_b, beta), method)(*args)
    return out if isinstance(out, tuple) else (out,)


def _scale(H_b, s, divide) -> tuple[np.ndarray]:
    return (scale_rows(H_b, s, divide),)


def _row_sums(H_b) -> tuple[np.ndarray]:
    return (NUMPY.row_sum(H_b),)


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
        self.client, self.data = row_block_handles(Xc)
        self.edges = np.cumsum([0, *Xc.chunks[0]])

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

    def map(self, fn, states: list, *args):
        """``fn(X_b, state_b, *args)`` on every block: (new states, the other outputs).

        The signature of ``BlockRunner.map``, so the dask NMF solver's steps run here.
        """
        (new,), outs = self.run(fn, states=[states], args=args, data=True, n_state=1)
        return new, outs

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
# The ops the loops written once run on
# --------------------------------------------------------------------------------------
class _BlockRows:
    """``(H̃, C, D)`` split over the blocks: the :class:`.hsteps.Rows` of the dask backend."""

    xp = NUMPY

    def __init__(self, blocks: _Blocks, H: list, C: list, D: list, beta: float):
        self.blocks = blocks
        self.states = [H, C, D]
        self.beta = beta

    def _run(self, method, *args, n_state=0, values=True):
        return self.blocks.run(
            _rows,
            states=self.states,
            args=(self.beta, method, *args),
            n_state=n_state,
            values=values,
        )

    def start(self) -> np.ndarray:
        # min_j over the cells of every block, then over the blocks (β ≠ 1 only: the KL
        # step always takes the closed form).
        _, starts = self._run("start")
        return np.min(np.vstack([o[0] for o in starts]), axis=0)

    def partials(self, mu: np.ndarray, idx: np.ndarray):
        _, parts = self._run("partials", mu, idx)
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    def scaled(self, mu):
        (new,), outs = self._run("scaled", mu, n_state=1)
        return new, sum(o[0] for o in outs)

    def divided(self, new: list, sums: np.ndarray) -> list:
        (H,), _ = self.blocks.run(_scale, states=[new], args=(sums, True), n_state=1, values=False)
        return H

    def mu_step(self) -> list:
        (H,), _ = self._run("mu_step", n_state=1, values=False)
        return H


# --------------------------------------------------------------------------------------
# The layer-1 backend
# --------------------------------------------------------------------------------------
class DaskLayer1:
    """Layer 1 of deep β-NMF on a dask array (interface of :mod:`.factor`).

    Parameters
    ----------
    X
        Dask array, genes × cells, whose transpose is chunked along cells only.
    beta
        β of the divergence (1, 1.5 or 2).
    """

    def __init__(self, X, beta: float):
        Xc = X.T
        check_row_chunks(Xc)
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
        result = alternate(
            dask_mu_steps(self.blocks, self.beta, self.dtype),
            self._A,
            self._B,
            max_iter=n_iter,
            tol=0.0,
            callback=phase_reporter(callback, phase),
        )
        self._A, self._B = result.W, result.H

    def engine_programs(self) -> np.ndarray:
        """``W_1 = max(Bᵀ, ε)``, float64, genes × r."""
        return NUMPY.engine_factor(self._B)

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
        self._H = h_step(_BlockRows(self.blocks, self._H, C, D, self.beta), kind, self.beta)

    def w_terms(self, W: np.ndarray):
        """(C, D) for the update of ``W_1``, summed over the blocks (genes × r, float64)."""
        _, outs = self._data_run(_w_terms, W)
        return sum(o[0] for o in outs), sum(o[1] for o in outs)

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
