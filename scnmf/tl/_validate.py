"""Option checks at the ``tl`` boundary: one declarative table per function.

Every ``tl`` function checks its options once, before it touches the data, with
``PARAMS.validate(locals())``; ``_core`` then trusts what it receives. The choices are
enums; the rule kinds and the one error formatter are in ``_rules``. Checks that need the
data (the rank against the matrix's shape, the number of scales) run once it is known,
through the same formatter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from anndata import AnnData

from ._penalty import PENALTY_RULES, penalty_needs_mu_or_hals
from ._pnmf_presets import PNMF_PRESETS
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
    key_added_not_input,
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


#: Schedule options of ``solver='agd'`` (see ``tl.nmf``) and the rule of each value.
AGD_OPTION_RULES: dict[str, Rule] = {
    "n_stages": Integer(0, fix="It counts threshold levels (default 100), e.g. n_stages=50."),
    "n_inner": Integer(1, fix="It counts gradient steps per stage (default 50), e.g. n_inner=20."),
    "alpha0": OrNone(Real(fix="It is the first threshold; None scales it to the data.")),
    "decay": Real(1.0, True, "The threshold is divided by decay every stage (default 1.1)."),
    "step": Real(0.0, True, "In units of 1/λ_max(WᵀW), descent diverges at 2 (default 1).", 2.0),
    "batch_size": OrNone(Integer(1, fix="Cells per mini-batch, e.g. batch_size=256; None: full.")),
    "clip": Flag(),
    "warm_start": Choice(WarmStart.values(), fix="max_iter HALS or MU iterations run first."),
}
AGD_OPTIONS: tuple[str, ...] = tuple(AGD_OPTION_RULES)


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
    """Strictly decreasing integers ≥ 1 (tuple, list, range, 1-d array, Series) as a tuple."""

    valid: str = "strictly decreasing integers ≥ 1, e.g. (20, 10, 5)"

    def __call__(self, value: Any, name: str) -> tuple[int, ...]:
        if is_integer(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
            value = (value.item() if isinstance(value, np.ndarray) else value,)
        fix = "Pass one integer rank per layer, in order, e.g. ranks=(20, 10, 5)."
        if isinstance(value, np.ndarray) and value.ndim != 1:
            raise self.reject(value, name, fix)
        if isinstance(value, str | bytes | Mapping | set | frozenset) or not isinstance(
            value, Iterable
        ):
            raise self.reject(value, name, fix)
        items = tuple(value.tolist() if isinstance(value, np.ndarray) else value)
        if not items or not all(is_integer(r) and r >= 1 for r in items):
            raise self.reject(value, name, fix)
        ranks = tuple(int(r) for r in items)
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


def _backed_copy(o: SimpleNamespace) -> None:
    """``copy=True`` of a backed AnnData fails in ``AnnData.copy``: refuse before the fit."""
    adata = getattr(o, "adata", None)
    if getattr(o, "copy", False) and isinstance(adata, AnnData) and adata.isbacked:
        raise option_error(
            "copy",
            True,
            "False for a backed AnnData",
            fix="A backed AnnData cannot be copied in memory: load it first with "
            "adata = adata.to_memory(), or pass copy=False to write the results into it.",
        )


def _min_volume_needs_kl(o: SimpleNamespace) -> None:
    if o.min_volume and o.beta_loss != 1:
        raise option_error(
            "min_volume",
            o.min_volume,
            f"False for β = {o.beta_loss:g}",
            fix="min_volume=True is implemented for the Kullback–Leibler loss only (β = 1).",
        )


#: Parameters without a rule that the checks read (the AnnData and ``copy``).
_TARGET: tuple[str, ...] = ("adata", "copy")

# Options every iterative fit shares.
_FIT = {
    "max_iter": Integer(0),
    "tol": Real(),
    "device": Device(),
    "random_state": Seed(),
    "key_added": Key(written=True),
}
# Data selection and output options every factorisation with a ``layer`` shares.
_IO = {"use_raw": Flag(), "add_to_obs": Flag()}

NMF_PARAMS = Params(
    {
        "n_components": Integer(1),
        "beta_loss": Beta(),
        "solver": Choice(Solver.values()),
        "init": Choice(Init.values()),
        **_FIT,
        "agd_options": SubOptions(AGD_OPTIONS, AGD_OPTION_RULES),
        **_IO,
        **PENALTY_RULES,
    },
    checks=(_frobenius_solver, _agd_options_need_agd, penalty_needs_mu_or_hals, _backed_copy),
    context=_TARGET,
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
        **_IO,
    },
    checks=(_backed_copy, key_added_not_input),
    context=_TARGET,
)

PERSISTENCE_PARAMS = Params(
    {
        "use_rep": Key(optional=True, what="'X' or a key of adata.obsm", error=TypeError),
        "n_neighbors": Integer(1),
        "neighbors_key": NeighborsKey(),
        "n_scales": Integer(1),
        "scales": Scales(),
        "random_state": Seed(),
        "key_added": Key(written=True),
    },
    checks=(_backed_copy,),
    context=_TARGET,
)

PNMF_PARAMS = Params(
    {
        "n_components": Integer(1),
        "persistence_key": Key(written=True),
        "preset": Choice(tuple(PNMF_PRESETS)),
        # None: the preset's value.
        "lambda_graph": OrNone(Real()),
        "lambda_scale": OrNone(Real()),
        "lambda_anchor": OrNone(Real()),
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
        "key_added": Key(written=True),
        **_IO,
    },
    checks=(_backed_copy, key_added_not_input),
    context=_TARGET,
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
        **_IO,
    },
    checks=(_min_volume_needs_kl, _backed_copy),
    context=_TARGET,
)
