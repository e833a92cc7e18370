"""Option checks at the ``tl`` boundary: one declarative table per function.

Every ``tl`` function checks its options once, before it touches the data, with
``PARAMS.validate(locals())``; ``_core`` then trusts what it receives. The choices are
enums; the rule kinds and the one error formatter are in ``_rules``. Checks that need the
data (the rank against the matrix's shape, the number of scales) run once it is known,
through the same formatter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from anndata import AnnData

from ._rules import (
    AnyOf,
    Choice,
    Flag,
    Integer,
    Key,
    ModeEnum,
    OrNone,
    Params,
    Real,
    Rule,
    Seed,
    SubOptions,
    is_integer,
    listing,
    option_error,
)


class Solver(ModeEnum):
    """``tl.nmf`` solvers; ``AUTO`` is HALS for Frobenius, MU otherwise."""

    AUTO = "auto"
    MU = "mu"
    HALS = "hals"
    AGD = "agd"


#: Solvers that minimise the Frobenius loss only.
FROBENIUS_SOLVERS: tuple[str, ...] = (Solver.HALS.value, Solver.AGD.value)


class Init(ModeEnum):
    """Initialisations; ``CUSTOM`` (``init_W``/``init_H``) only in ``tl.nmf``."""

    NNDSVD = "nndsvd"
    NNDSVDA = "nndsvda"
    NNDSVDAR = "nndsvdar"
    RANDOM = "random"
    CUSTOM = "custom"


#: Initialisations of the fits that take no starting factors.
AUTOMATIC_INITS: tuple[str, ...] = tuple(i for i in Init.values() if i != Init.CUSTOM)


class GraphWeight(ModeEnum):
    """Edge weights of the GNMF kNN graph."""

    HEAT = "heat"
    BINARY = "binary"


class Normalize(ModeEnum):
    """When pNMF rescales programs to unit norm."""

    START = "start"
    ITERATION = "iteration"


class WarmStart(ModeEnum):
    """Warm start of ``solver='agd'``."""

    HALS = "hals"
    MU = "mu"


class BetaLoss(ModeEnum):
    """Names of β-divergences (any β ≥ 0 is accepted as a number too)."""

    FROBENIUS = "frobenius"
    KULLBACK_LEIBLER = "kullback-leibler"
    ITAKURA_SAITO = "itakura-saito"


#: β of each named loss.
BETA_OF_LOSS: dict[str, float] = {
    BetaLoss.FROBENIUS.value: 2.0,
    BetaLoss.KULLBACK_LEIBLER.value: 1.0,
    BetaLoss.ITAKURA_SAITO.value: 0.0,
}

#: Device names; the core resolves ``'auto'`` and checks that the GPU is there.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "cuda:N")
_CUDA_INDEX = re.compile(r"cuda:\d+")


#: Schedule options of ``solver='agd'`` (see ``tl.nmf``).
AGD_OPTIONS: tuple[str, ...] = (
    "n_stages",
    "n_inner",
    "alpha0",
    "decay",
    "step",
    "batch_size",
    "clip",
    "warm_start",
)


@dataclass(frozen=True)
class Beta(Rule):
    """A β-loss name or a number β ≥ 0, returned as β; optionally only ``supported`` β."""

    supported: tuple[float, ...] | None = None
    fix: str = ""

    @property
    def valid(self) -> str:
        if self.supported is None:
            return f"{listing(BetaLoss.values())} or a number β ≥ 0"
        names = {b: n for n, b in BETA_OF_LOSS.items()}
        return listing(
            (f"{names[b]!r} (β = {b:g})" if b in names else f"{b:g}" for b in self.supported),
            quote=False,
        )

    def __call__(self, value: Any, name: str) -> float:
        if isinstance(value, str):
            if value.lower() not in BETA_OF_LOSS:
                raise self.reject(value, name, self.fix)
            beta = BETA_OF_LOSS[value.lower()]
        elif isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
            raise self.reject(value, name, self.fix)
        else:
            beta = float(value)
            if not np.isfinite(beta) or beta < 0:
                raise self.reject(value, name, self.fix)
        if self.supported is not None and beta not in self.supported:
            raise self.reject(value, name, self.fix)
        return beta


@dataclass(frozen=True)
class Device(Rule):
    """A device name; checked here, resolved (``'auto'``, is a GPU there?) by the core."""

    valid: str = listing(DEVICES)

    def __call__(self, value: Any, name: str) -> str:
        if not isinstance(value, str) or not (value in DEVICES[:3] or _CUDA_INDEX.fullmatch(value)):
            raise self.reject(value, name, "A GPU needs pip install 'scnmf[gpu]'.")
        return value


@dataclass(frozen=True)
class Ranks(Rule):
    """Strictly decreasing positive integers (one integer means one layer)."""

    valid: str = "strictly decreasing integers ≥ 1, e.g. (20, 10, 5)"

    def __call__(self, value: Any, name: str) -> tuple[int, ...]:
        if is_integer(value):
            value = (value,)
        if not isinstance(value, Sequence | np.ndarray) or isinstance(value, str) or not len(value):
            raise self.reject(value, name)
        if not all(is_integer(r) and r >= 1 for r in value):
            raise self.reject(value, name)
        ranks = tuple(int(r) for r in value)
        if any(a <= b for a, b in zip(ranks, ranks[1:], strict=False)):
            raise self.reject(value, name, "Each layer merges programs, so ranks must decrease.")
        return ranks


@dataclass(frozen=True)
class Scales(Rule):
    """``None`` (choose), ``'all'``, or explicit strictly increasing positive numbers."""

    valid: str = "None, 'all' or strictly increasing finite positive numbers"

    def __call__(self, value: Any, name: str) -> np.ndarray | str | None:
        if value is None or (isinstance(value, str) and value == "all"):
            return value
        if isinstance(value, str):
            raise self.reject(value, name)
        try:
            arr = np.asarray(value, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise self.reject(value, name) from None
        if arr.size == 0 or not np.isfinite(arr).all() or arr.min() <= 0:
            raise self.reject(value, name)
        if arr.size > 1 and np.any(np.diff(arr) <= 0):
            raise self.reject(value, name, "Sort them and drop repeats.")
        return arr


@dataclass(frozen=True)
class NeighborsKey(Rule):
    """Where the kNN graph comes from: ``None`` (reuse when it fits), ``False``, or a key."""

    valid: str = (
        "None (reuse sc.pp.neighbors' graph when it fits), False (always compute) "
        "or a key of adata.uns"
    )

    def __call__(self, value: Any, name: str) -> str | None | bool:
        if value is None or value is False:
            return value
        if not isinstance(value, str) or not value:
            raise self.reject(value, name)
        return value


# Constraints between options (run after every rule passed).
def _frobenius_solver(o: SimpleNamespace) -> None:
    if o.solver in FROBENIUS_SOLVERS and o.beta_loss != 2:
        raise option_error(
            "solver",
            o.solver,
            f"{listing(('auto', 'mu'))} for β = {o.beta_loss:g}",
            fix=f"solver={o.solver!r} (HALS or AGD) minimises the Frobenius loss only; "
            "use solver='mu' for other β-divergences.",
        )


def _agd_options_need_agd(o: SimpleNamespace) -> None:
    if o.agd_options and o.solver != Solver.AGD:
        raise option_error(
            "agd_options",
            o.agd_options,
            "None unless solver='agd'",
            fix="agd_options only applies to solver='agd'.",
        )


def _min_volume_needs_kl(o: SimpleNamespace) -> None:
    if o.min_volume and o.beta_loss != 1:
        raise option_error(
            "min_volume",
            o.min_volume,
            f"False for β = {o.beta_loss:g}",
            fix="min_volume=True is implemented for the Kullback–Leibler loss only (β = 1).",
        )


# Options every iterative fit shares.
_FIT = {
    "max_iter": Integer(0),
    "tol": Real(),
    "device": Device(),
    "random_state": Seed(),
    "key_added": Key(),
}

NMF_PARAMS = Params(
    {
        "n_components": Integer(1),
        "beta_loss": Beta(),
        "solver": Choice(Solver.values()),
        "init": Choice(Init.values()),
        **_FIT,
        "agd_options": SubOptions(AGD_OPTIONS, {"warm_start": Choice(WarmStart.values())}),
    },
    checks=(_frobenius_solver, _agd_options_need_agd),
)

GNMF_PARAMS = Params(
    {
        "n_components": Integer(1),
        "lambda_graph": Real(),
        "n_neighbors": Integer(1),
        "weight": Choice(GraphWeight.values()),
        "use_rep": Key(optional=True, what="'X' or a key of adata.obsm", error=TypeError),
        "init": Choice(AUTOMATIC_INITS),
        **_FIT,
    }
)

PERSISTENCE_PARAMS = Params(
    {
        "use_rep": Key(optional=True, what="'X' or a key of adata.obsm", error=TypeError),
        "n_neighbors": Integer(1),
        "neighbors_key": NeighborsKey(),
        "n_scales": Integer(1),
        "scales": Scales(),
        "random_state": Seed(),
        "key_added": Key(),
    }
)

PNMF_PARAMS = Params(
    {
        "n_components": Integer(1),
        "persistence_key": Key(),
        "lambda_graph": Real(),
        "lambda_scale": Real(),
        "lambda_anchor": Real(),
        "n_sweeps": Integer(0),
        "max_inner_iter": Integer(1),
        "inner_tol": Real(),
        "normalize": Choice(Normalize.values()),
        "init": Choice(AUTOMATIC_INITS),
        # The upper bound (the number of scales) is checked once the scales are known.
        "reference_scale": AnyOf((Choice(("finest", "stable")), Integer(0))),
        "n_clusters": OrNone(Integer(2)),
        "device": Device(),
        "random_state": Seed(),
        "key_added": Key(),
    }
)

#: β the deep layer updates implement (closed-form W updates for β = 1, 1.5 and 2).
DEEP_BETAS: tuple[float, ...] = (1.0, 1.5, 2.0)
DEEP_NMF_PARAMS = Params(
    {
        "ranks": Ranks(),
        "beta_loss": Beta(DEEP_BETAS, fix="deep_nmf supports no other β."),
        "min_volume": Flag(),
        "alpha": Real(),
        "delta": Real(strict=True, fix="δ keeps log det(WᵀW + δI) finite."),
        "n_init_iter": Integer(1),
        "multilayer_baseline": Flag(),
        **_FIT,
    },
    checks=(_min_volume_needs_kl,),
)


def check_adata(adata: Any) -> AnnData:
    """Reject anything that is not a non-empty AnnData."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"Expected an AnnData object, got {type(adata).__name__}.")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ValueError(
            f"AnnData is empty ({adata.n_obs} cells × {adata.n_vars} genes); "
            "filter less aggressively or pass a non-empty object."
        )
    return adata


def check_rank(k: int, shape: tuple[int, int], name: str = "n_components") -> int:
    """A rank (already an integer ≥ 1) that the matrix of ``shape`` can have."""
    if k > min(shape):
        raise option_error(
            name,
            k,
            f"integers 1 … {min(shape)}",
            fix=f"{name}={k} is impossible for a {shape[0]} × {shape[1]} matrix.",
        )
    return k


def check_ranks(ranks: tuple[int, ...], shape: tuple[int, int]) -> tuple[int, ...]:
    """Deep-NMF ranks (already strictly decreasing) that the matrix of ``shape`` can have."""
    return tuple(check_rank(r, shape, name=f"ranks[{i}]") for i, r in enumerate(ranks))


def check_scale_index(reference_scale: int, n_scales: int) -> int:
    """A scale index (already an integer ≥ 0) below the number of scales."""
    if reference_scale >= n_scales:
        raise option_error(
            "reference_scale",
            reference_scale,
            f"'finest', 'stable' or 0 … {n_scales - 1}",
            fix=f"There are only {n_scales} scales.",
        )
    return reference_scale
