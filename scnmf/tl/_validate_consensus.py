"""The option table of ``tl.consensus_nmf`` (the other tables are in ``_validate``).

Kept apart so ``_validate`` stays under the size limit; it uses the same rule kinds
(``_rules``), enums and shared checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from ._rules import (
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
    is_integer,
    listing,
    option_error,
)
from ._validate import Beta, Device, Init, Solver, _backed_copy, _frobenius_solver

#: Smallest k of a consensus: KMeans into one cluster and its silhouette mean nothing.
MIN_CONSENSUS_RANK = 2


class ConsensusSolver(ModeEnum):
    """Solvers of the batched replicate fits (AGD has no batched form)."""

    AUTO = Solver.AUTO.value
    MU = Solver.MU.value
    HALS = Solver.HALS.value


#: Initialisations that give every replicate its own start (the NNDSVD family is
#: deterministic up to the randomised SVD, so its replicates would all agree).
CONSENSUS_INITS: tuple[str, ...] = (Init.RANDOM.value, Init.NNDSVDAR.value)


@dataclass(frozen=True)
class ConsensusRanks(Rule):
    """An integer k ≥ 2 or a non-empty sequence of them, returned sorted without repeats."""

    valid: str = (
        f"an integer ≥ {MIN_CONSENSUS_RANK} or a non-empty sequence of them, e.g. range(5, 11)"
    )

    def __call__(self, value: Any, name: str) -> tuple[int, ...]:
        fix = "Pass the ranks to try, e.g. n_components=range(5, 11) or n_components=7."
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if is_integer(value):
            value = (value,)
        if isinstance(value, np.ndarray) and value.ndim != 1:
            raise self.reject(value, name, fix)
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise self.reject(value, name, fix)
        items = tuple(value.tolist() if isinstance(value, np.ndarray) else value)
        if not items:
            raise self.reject(value, name, f"The list of ranks is empty. {fix}")
        if not all(is_integer(k) for k in items):
            raise self.reject(value, name, fix)
        if min(items) < MIN_CONSENSUS_RANK:
            raise self.reject(
                value,
                name,
                f"k = {min(items)} makes one cluster per replicate set: the KMeans consensus "
                f"and its silhouette stability need k ≥ {MIN_CONSENSUS_RANK}; drop it.",
            )
        return tuple(sorted({int(k) for k in items}))


def _select_among_ranks(o: SimpleNamespace) -> None:
    if o.select is not None and o.select not in o.n_components:
        raise option_error(
            "select",
            o.select,
            f"None or one of the ranks fitted ({listing(o.n_components)})",
            fix="select picks which k's consensus is stored: add it to n_components, or "
            "pass select=None for the most stable k.",
        )


_INIT_FIX = (
    "Consensus needs replicates that differ: 'nndsvd' and 'nndsvda' start every replicate "
    "from (almost) the same point. Use init='random' (as cNMF) or 'nndsvdar'."
)

CONSENSUS_PARAMS = Params(
    {
        "n_components": ConsensusRanks(),
        "n_replicates": Integer(
            2, fix="A consensus compares replicate fits: use n_replicates ≥ 2 (cNMF uses 100)."
        ),
        "beta_loss": Beta(),
        "solver": Choice(ConsensusSolver.values()),
        "init": Choice(CONSENSUS_INITS, fix=_INIT_FIX),
        "max_iter": Integer(1),
        "tol": Real(),
        "density_threshold": Real(
            0.0,
            strict=True,
            maximum=2.0,
            closed=True,
            fix="Distances between unit-norm programs lie in [0, 2]; 2 keeps every "
            "replicate, cNMF suggests 0.1 … 0.5.",
        ),
        "local_neighborhood_size": Real(
            0.0,
            strict=True,
            maximum=1.0,
            closed=True,
            fix="It is the fraction of n_replicates whose distances are averaged (default 0.3).",
        ),
        "select": OrNone(Integer(MIN_CONSENSUS_RANK)),
        "use_raw": Flag(),
        "add_to_obs": Flag(),
        "device": Device(),
        "random_state": Seed(),
        "key_added": Key(written=True),
    },
    checks=(_frobenius_solver, _select_among_ranks, _backed_copy),
    context=("adata", "copy"),
)
