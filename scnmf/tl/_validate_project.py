"""The option table of ``tl.project`` and the reading of its reference programs.

A reference is an AnnData holding a scnmf result under ``key`` or a genes × programs
DataFrame. :func:`read_reference` turns either into one :class:`Reference` (programs, gene
names, β, names), checked before any work; every rejection names the problem and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as C
from ..get._results import Kind, loadings, names, select
from ._rules import Flag, Integer, Key, OrNone, Params, Real, option_error
from ._validate import Beta, Device, _backed_copy

#: What ``reference_kind`` records for each kind of result.
NMF, GNMF, PNMF, DEEP, CONSENSUS, VARM, TABLE = (
    "nmf",
    "gnmf",
    "pnmf",
    "deep_nmf",
    "consensus_nmf",
    "varm",
    "DataFrame",
)
#: The tl functions whose results can be projected (for messages).
_PRODUCERS = "tl.nmf, tl.gnmf, tl.pnmf, tl.deep_nmf or tl.consensus_nmf"

#: Negative loadings this close to 0 (relative to the largest) are round-off, read as 0.
_ROUND_OFF = 1e-9

PROJECT_PARAMS = Params(
    {
        "key": Key(what="names of a scnmf result (a key of reference.uns)", error=TypeError),
        "scale": OrNone(Integer(0, fix="It indexes the scales of a tl.pnmf reference.")),
        "beta_loss": OrNone(Beta()),
        "use_raw": Flag(),
        "add_to_obs": Flag(),
        "key_added": Key(optional=True, written=True),
        "max_iter": Integer(1),
        "tol": Real(),
        "device": Device(),
    },
    checks=(_backed_copy,),
    context=("adata", "copy"),
)


@dataclass(frozen=True)
class Reference:
    """Programs to project onto, as read from the reference.

    ``programs`` is genes × k (float64, nonnegative, finite), restricted to the genes that
    carry weight (the reference's zero rows are genes its fit left out); ``genes`` names
    them (unique). ``normalize`` says whether the reference's activities rows sum to one
    (a consensus), which the projection then follows.
    """

    programs: np.ndarray
    genes: pd.Index
    names: np.ndarray
    beta: float
    kind: str
    where: str
    scale: int | None = None
    normalize: bool = False
    penalties: dict[str, float] = field(default_factory=dict)


def _check_values(values: np.ndarray, where: str, fix: str) -> np.ndarray:
    """``values`` checked; round-off negatives (tl.pnmf, tl.gnmf store -1e-45, -1e-12) become 0."""
    if values.ndim != 2 or 0 in values.shape:
        raise ValueError(f"{where} has shape {values.shape}; expected genes × programs.")
    if not np.isfinite(values).all():
        raise ValueError(f"{where} contains NaN or infinite loadings; {fix}.")
    if values.min() < -_ROUND_OFF * np.abs(values).max():
        raise ValueError(
            f"{where} contains negative loadings (min {values.min():.3g}); NMF programs are "
            f"nonnegative: {fix}."
        )
    if not values.any():
        raise ValueError(f"{where} is all zeros; there are no programs to project onto.")
    return np.maximum(values, 0.0)


def _unique(index: pd.Index, where: str, fix: str) -> pd.Index:
    index = pd.Index(index.astype(str))
    if not index.is_unique:
        dup = index[index.duplicated()].unique()[:5].tolist()
        raise ValueError(
            f"{where} has duplicate gene names ({dup}), so genes cannot be matched by name; {fix}."
        )
    return index


def _weighted(values: np.ndarray, genes: pd.Index) -> tuple[np.ndarray, pd.Index]:
    """The genes with some loading: a zero row is a gene the reference's fit left out."""
    keep = values.sum(axis=1) > 0
    return np.ascontiguousarray(values[keep]), genes[keep]


def _penalties(params: Mapping) -> dict[str, float]:
    """The reference's regularisation of the activities (absent: none)."""
    out = {}
    for name in ("alpha_W", "l1_ratio"):
        value = params.get(name, 0.0)
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            out[name] = 0.0
    return out if out["alpha_W"] > 0 else {}


def _from_table(table: pd.DataFrame, key: str, scale: int | None) -> Reference:
    where = "The reference DataFrame"
    if scale is not None:
        raise option_error(
            "scale", scale, "None for a DataFrame reference", fix="scale picks a tl.pnmf scale."
        )
    try:
        values = table.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{where} has non-numeric columns ({list(table.dtypes.astype(str).unique())}); "
            "pass genes as the index and one numeric column per program."
        ) from None
    values = _check_values(
        values, where, "pass the programs' nonnegative loadings (e.g. cNMF spectra)"
    )
    genes = _unique(table.index, f"{where}'s index", "aggregate or drop the repeated genes")
    names = np.asarray([str(c) for c in table.columns])
    return Reference(*_weighted(values, genes), names, 2.0, TABLE, where)


#: ``reference_kind`` of each kind of stored result (``tl.gnmf`` is told apart by its params).
_KIND_NAMES = {Kind.PNMF: PNMF, Kind.DEEP: DEEP, Kind.CONSENSUS: CONSENSUS, Kind.VARM: VARM}


def _where(reference: AnnData, sel) -> str:
    """Where the programs of the selection are stored, as messages name it."""
    r = sel.result
    if r.kind == Kind.DEEP:
        return f"reference.varm[{C.deep_keys(r.key).varm(sel.layer)!r}]"
    if r.kind == Kind.CONSENSUS:
        return f"reference.varm[{C.consensus_keys(r.key).programs!r}]"
    if r.kind == Kind.VARM:
        return f"reference.varm[{r.key!r}]"
    if r.kind == Kind.PNMF:
        return f"reference.varm[{C.loadings_key(r.key)!r}][:, {sel.scale}, :]"
    return f"reference.varm[{C.loadings_key(r.key)!r}]"


def _from_result(reference: AnnData, key: str, scale: int | None) -> Reference:
    try:
        sel = select(reference, key, scale)
        if sel.result.kind == Kind.ACTIVITIES:
            raise KeyError(
                f"reference.uns[{key!r}] holds cell activities only (a tl.project result), no "
                "programs; pass the key of the result whose programs were projected."
            )
        values = loadings(reference, sel)
        program_names = np.asarray(names(reference, sel), dtype=str)
    except KeyError as error:  # the resolver speaks of "adata": here it is the reference
        raise KeyError(
            f"In the reference: {error.args[0]} Or pass a genes × programs pandas DataFrame "
            "as reference."
        ) from None
    except ValueError as error:
        raise ValueError(f"In the reference: {error}") from None
    where = _where(reference, sel)
    values = _check_values(
        np.asarray(values, dtype=np.float64), where, f"refit the reference or fix {where}"
    )
    genes = _unique(reference.var_names, "reference.var_names", "call var_names_make_unique()")
    record = reference.uns.get(sel.result.key, {})
    params = record.get(C.FitUns.PARAMS, {}) if isinstance(record, Mapping) else {}
    params = params if isinstance(params, Mapping) else {}
    kind = _KIND_NAMES.get(sel.result.kind, GNMF if "lambda_graph" in params else NMF)
    beta = Beta()(params.get("beta_loss", 2.0), f"reference.uns[{key!r}]['params']['beta_loss']")
    return Reference(
        *_weighted(values, genes),
        program_names,
        beta,
        kind,
        where,
        sel.scale,
        normalize=kind == CONSENSUS,
        penalties=_penalties(params),
    )


def read_reference(reference: Any, key: str, scale: int | None) -> Reference:
    """The programs of ``reference`` (an AnnData result under ``key`` or a DataFrame).

    An AnnData's result is found by the resolver of ``get`` (:mod:`scnmf.get._results`), so
    ``tl.project`` reads exactly what ``get.programs`` shows: the kind of result, a pNMF
    scale (default its reference scale), a deep-NMF layer (``'<key>_l<ℓ>'``; default 1),
    the stored program names.

    Raises
    ------
    TypeError
        ``reference`` is neither.
    KeyError
        No scnmf result with programs under ``key``.
    ValueError
        A ``scale`` out of range or given for a result without scales; loadings negative,
        NaN or all zero; duplicate gene names.
    """
    if isinstance(reference, pd.DataFrame):
        return _from_table(reference, key, scale)
    if not isinstance(reference, AnnData):
        raise TypeError(
            f"reference must be an AnnData holding a result of {_PRODUCERS} under key, or a "
            f"genes × programs pandas DataFrame (e.g. pd.read_csv(path, sep='\\t', "
            f"index_col=0) of a cNMF/starCAT reference); got {type(reference).__name__}."
        )
    return _from_result(reference, key, scale)


def resolve_key_added(o: SimpleNamespace, reference: Any) -> str:
    """``key_added`` (default ``'<key>_projected'``), checked against the reference it reads."""
    key_added = o.key_added or Key(written=True)(C.projected_key(o.key), "key_added")
    if reference is o.adata and key_added == o.key:
        raise option_error(
            "key_added",
            key_added,
            "keys other than the reference's own result",
            fix=f"Projecting adata onto its own programs would overwrite uns[{o.key!r}] and "
            f"obsm[{C.obsm_key(o.key)!r}]; pass key_added=None for "
            f"{C.projected_key(o.key)!r}.",
        )
    return key_added
