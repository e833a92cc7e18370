"""Dask backend: the in-memory steps run on each row block, the gene factor on the driver.

Orientation: ``X`` n × m (cells × genes) is a dask array chunked along cells, with the gene
axis in one chunk (numpy or scipy CSR chunks). One iteration of :func:`.loop.alternate` is
one map over the row blocks and one reduce on the driver:

* map (``w_terms``): block b runs the *in-memory* steps of :mod:`.mu` or :mod:`.hals` on its
  rows, evaluating its share of the loss and updating its rows ``W_b`` (this needs only the
  small gene factor), then returns its share of the H terms at the new ``W_b``;
* reduce (``h_terms``/``update_H``): the driver sums the k × m shares and applies the same
  H step the in-memory solver applies.

A :class:`~.penalty.Penalty` is split the same way: each block's steps add the W penalty of
its rows (its share of the loss and its own W step), the driver adds the H penalty once to
the loss and to the summed H terms. Its weights come from the whole data's shape.

The result equals the in-memory one up to floating-point summation order. With a
``dask.distributed`` client the data blocks and ``W_b`` stay on the workers (only k × m
reductions travel); without one, blocks are computed on each pass, which streams data that
does not fit in memory from its source.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .._backends.dask import BlockRunner, as_block, check_row_chunks, dask_summary
from .hals import HALSSteps
from .mu import MUSteps
from .ops_numpy import DriverOps, NumpyOps, make_ops
from .penalty import NO_PENALTY, Penalty


def mu_block_steps(block, beta: float, penalty: Penalty | None = None) -> MUSteps:
    """The in-memory MU steps on one computed block (``penalty``: the W part only)."""
    return MUSteps(make_ops(block, beta), beta, penalty)


def hals_block_steps(
    block, inner_W: int, inner_H: int, adaptive: bool, penalty: Penalty | None = None
) -> HALSSteps:
    """The in-memory HALS steps on one computed block (``penalty``: the W part only)."""
    return HALSSteps(NumpyOps(block), inner_W, inner_H, adaptive, penalty)


def block_step(block, W_b, make_steps, H, dtype) -> tuple:
    """One block's share of an iteration: (new ``W_b``, loss share, H-term shares)."""
    steps = make_steps(as_block(block, dtype))
    W_b = np.array(W_b, dtype=dtype)
    terms, loss = steps.w_terms(W_b, H)
    W_b = steps.update_W(W_b, terms)
    return (W_b, loss, *(np.asarray(t) for t in steps.h_terms(W_b, H)))


class DaskSteps:
    """Steps over row blocks: ``make_steps(block)`` per block, ``driver`` for the H step."""

    def __init__(self, runner: BlockRunner, make_steps, driver, dtype):
        self.runner = runner
        self.make_steps = make_steps
        self.driver = driver
        self.dtype = dtype
        self._pending_h = None

    def w_terms(self, W_blocks, H):
        """Map: every block's loss, W update and H-term shares; the shares are reduced here."""
        new_W, outs = self.runner.map(block_step, W_blocks, self.make_steps, H, self.dtype)
        loss = float(sum(o[0] for o in outs)) + self.driver.h_penalty(H)
        h_terms = tuple(sum(o[i] for o in outs) for i in range(1, len(outs[0])))
        return (new_W, h_terms), loss

    def update_W(self, W_blocks, terms):
        """Adopt the blocks' updated rows (their H shares were computed from them)."""
        new_W, self._pending_h = terms
        return new_W

    def h_terms(self, W_blocks, H):
        """The summed H terms of the last map, with the H penalty (added once, here)."""
        return self.driver.penalise_h(self._pending_h, H)

    def update_H(self, H, terms):
        """The in-memory solver's H step, on the driver."""
        return self.driver.update_H(H, terms)


def dask_mu_steps(runner, beta: float, dtype, penalty: Penalty | None = None) -> DaskSteps:
    """β-MU over the row blocks of ``runner`` (any object with :class:`BlockRunner`'s ``map``)."""
    penalty = penalty or NO_PENALTY
    make = partial(mu_block_steps, beta=beta, penalty=penalty.only_W())
    return DaskSteps(runner, make, MUSteps(DriverOps, beta, penalty.only_H()), dtype)


class DaskEngine:
    """Factors of a row-chunked dask array: ``W`` as row blocks (on the workers), ``H`` here."""

    def __init__(self, X):
        check_row_chunks(X)
        self.X = X
        self.dtype = np.dtype(X.dtype)
        self.runner = BlockRunner(X)

    def nnz(self) -> int:
        """Stored nonzeros, counted in one pass (sets the HALS sweep budget as in memory)."""
        return int(dask_summary(self.X)["nnz"])

    def mu_steps(self, beta: float, penalty: Penalty | None = None) -> DaskSteps:
        """β-MU, each block running :class:`.mu.MUSteps` on its rows."""
        return dask_mu_steps(self.runner, beta, self.dtype, penalty)

    def hals_steps(
        self, inner_W: int, inner_H: int, adaptive: bool, penalty: Penalty | None = None
    ) -> DaskSteps:
        """HALS, each block sweeping its rows of W; Hᵀ swept on the driver."""
        penalty = penalty or NO_PENALTY
        make = partial(
            hals_block_steps,
            inner_W=inner_W,
            inner_H=inner_H,
            adaptive=adaptive,
            penalty=penalty.only_W(),
        )
        driver = HALSSteps(DriverOps, inner_W, inner_H, adaptive, penalty.only_H())
        return DaskSteps(self.runner, make, driver, self.dtype)

    def put(self, W: np.ndarray, H: np.ndarray):
        """``W`` split into the data's row blocks, ``H`` as a driver array."""
        W_blocks = self.runner.split(np.asarray(W, dtype=self.dtype))
        return W_blocks, np.array(H, dtype=self.dtype, order="C")

    def get(self, W_blocks, H) -> tuple[np.ndarray, np.ndarray]:
        """The factors gathered back as numpy arrays."""
        return self.runner.join(W_blocks), np.ascontiguousarray(H)

    @staticmethod
    def context():
        """The blocks limit their own threads."""
        return DriverOps.context()
