"""What a ``tl`` result stored under a key is, and where its activities and programs live.

One resolver for ``get.activities``, ``get.programs``, ``get.program_names`` and
``tl.rename_programs``: the kind of result is read from its ``uns`` record (deep NMF has
``ranks``, consensus NMF ``k_selection``, pNMF ``reference_scale``), the arrays from the keys
of :mod:`scnmf._keys`. Nothing here writes to the AnnData.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from anndata import AnnData

from .. import _keys as C

#: Producers named when a key holds no result.
PRODUCERS = (
    "scnmf.tl.nmf(adata, ...) (or tl.gnmf, tl.pnmf, tl.deep_nmf, tl.consensus_nmf, tl.project)"
)


class Kind(StrEnum):
    """Kinds of stored results."""

    #: ``tl.nmf`` / ``tl.gnmf``: ``obsm['X_<key>']``, ``varm['<key>_loadings']``.
    FACTORS = "factors"
    #: ``tl.pnmf``: per-scale arrays beside the reference scale.
    PNMF = "pnmf"
    #: ``tl.deep_nmf``: one activity and program matrix per layer.
    DEEP = "deep"
    #: ``tl.consensus_nmf``: usage, programs and gene specificity scores.
    CONSENSUS = "consensus"
    #: A record with cell activities only (``tl.project``): no programs of its own.
    ACTIVITIES = "activities"
    #: A plain genes × programs matrix in ``varm`` (no record): programs only.
    VARM = "varm"


@dataclass(frozen=True)
class Result:
    """A result stored under ``key``; ``ranks`` holds one rank per deep layer, else one."""

    key: str
    kind: Kind
    ranks: tuple[int, ...]
    n_scales: int = 0
    reference_scale: int = 0

    @property
    def record(self) -> str:
        return f"adata.uns[{self.key!r}]"


@dataclass(frozen=True)
class Selection:
    """A result and the pNMF scale (0-based) or deep layer (1-based) chosen from it."""

    result: Result
    scale: int | None = None
    layer: int | None = None

    @property
    def n_programs(self) -> int:
        return self.result.ranks[(self.layer or 1) - 1]

    @property
    def where(self) -> str:
        """The result as the messages name it."""
        if self.layer is not None:
            return f"{self.result.key!r} layer {self.layer}"
        if self.scale is not None:
            return f"{self.result.key!r} scale {self.scale}"
        return repr(self.result.key)


def invalid(name: str, value: Any, valid: str, fix: str = "") -> ValueError:
    """The "Invalid option X for Y. Valid options are …" message of the tl tables."""
    message = f"Invalid option {value!r} for {name}. Valid options are {valid}."
    return ValueError(f"{message} {fix}" if fix else message)


def is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _matrix(container: Any, name: str, ndim: int) -> bool:
    return name in container and getattr(container[name], "ndim", 0) == ndim


_LAYER = re.compile(r"(.+)_l(\d+)")


def resolve(adata: AnnData, key: Any) -> Result:
    """The result stored under ``key``, or a KeyError/TypeError naming what to run."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"Expected an AnnData, got {type(adata).__name__}.")
    if not isinstance(key, str) or not key:
        raise TypeError(
            f"key={key!r} is not a non-empty string; pass the key_added of a scnmf result."
        )
    record = adata.uns.get(key)
    if isinstance(record, Mapping):
        return _from_record(adata, key, record)
    if _matrix(adata.varm, key, 2):
        return Result(key, Kind.VARM, (adata.varm[key].shape[1],))
    raise KeyError(
        f"No scnmf result under key={key!r}: adata.uns[{key!r}] and "
        f"adata.varm[{C.loadings_key(key)!r}] not found; run {PRODUCERS} first, or pass the "
        f"key_added you used there."
    )


def _from_record(adata: AnnData, key: str, record: Mapping) -> Result:
    D, S, P = C.DeepUns, C.ConsensusUns, C.PnmfUns
    if D.RANKS in record and D.H in record:
        ranks = tuple(int(r) for r in np.asarray(record[D.RANKS]).ravel())
        keys = C.deep_keys(key)
        for ell in range(1, len(ranks) + 1):
            _require(adata, "obsm", keys.obsm(ell), key, "tl.deep_nmf")
        return Result(key, Kind.DEEP, ranks)
    if S.K_SELECTION in record:
        keys = C.consensus_keys(key)
        _require(adata, "obsm", keys.obsm, key, "tl.consensus_nmf")
        return Result(key, Kind.CONSENSUS, (int(adata.obsm[keys.obsm].shape[1]),))
    if P.REFERENCE_SCALE in record:
        keys = C.pnmf_keys(key)
        _require(adata, "obsm", keys.obsm_scales, key, "tl.pnmf")
        n_obs, T, k = adata.obsm[keys.obsm_scales].shape
        return Result(key, Kind.PNMF, (int(k),), int(T), int(record[P.REFERENCE_SCALE]))
    obsm = C.obsm_key(key)
    if not _matrix(adata.obsm, obsm, 2):
        raise KeyError(
            f"adata.uns[{key!r}] is not a scnmf result (no adata.obsm[{obsm!r}] of cell "
            f"activities); pass the key_added of a result of {PRODUCERS}."
        )
    k = int(adata.obsm[obsm].shape[1])
    projected = C.ProjectUns.REFERENCE_KEY in record
    factors = not projected and _matrix(adata.varm, C.loadings_key(key), 2)
    kind = Kind.FACTORS if factors else Kind.ACTIVITIES
    return Result(key, kind, (k,))


def _require(adata: AnnData, slot: str, name: str, key: str, producer: str) -> None:
    if name not in getattr(adata, slot):
        raise KeyError(
            f"adata.{slot}[{name!r}] not found, although adata.uns[{key!r}] is a {producer} "
            f"record; rerun {producer} with key_added={key!r}."
        )


def select(adata: AnnData, key: Any, scale: Any = None, layer: Any = None) -> Selection:
    """The result under ``key`` with a checked ``scale`` (pNMF) or ``layer`` (deep NMF).

    ``'<key>_l<ℓ>'`` of a deep NMF under ``'<key>'`` (its ``varm`` key) selects layer ℓ.
    """
    alias = _LAYER.fullmatch(key) if isinstance(key, str) else None
    if alias and layer is None and isinstance(adata.uns.get(alias[1]), Mapping):
        parent = adata.uns[alias[1]]
        if C.DeepUns.RANKS in parent and C.DeepUns.H in parent:
            key, layer = alias[1], int(alias[2])
    result = resolve(adata, key)
    if scale is not None and result.kind != Kind.PNMF:
        raise invalid("scale", scale, "None", f"{result.record} is not a tl.pnmf result.")
    if layer is not None and result.kind != Kind.DEEP:
        raise invalid("layer", layer, "None", f"{result.record} is not a tl.deep_nmf result.")
    if result.kind == Kind.PNMF:
        T = result.n_scales
        if scale is None:
            scale = result.reference_scale
        elif not is_int(scale) or not 0 <= scale < T:
            raise invalid(
                "scale",
                scale,
                f"None (the reference scale, {result.reference_scale}) or integers 0 … {T - 1}",
                f"{result.record} has {T} scales, finest first.",
            )
        return Selection(result, scale=int(scale))
    if result.kind == Kind.DEEP:
        L = len(result.ranks)
        if layer is None:
            layer = 1
        elif not is_int(layer) or not 1 <= layer <= L:
            raise invalid(
                "layer",
                layer,
                f"None (layer 1) or integers 1 … {L}",
                f"{result.record} has {L} layers, numbered from 1 (the finest).",
            )
        return Selection(result, layer=int(layer))
    return Selection(result)


def activities(adata: AnnData, sel: Selection) -> np.ndarray:
    """Cell activities (n_obs × k) of the selection, as stored (a view)."""
    r = sel.result
    if r.kind == Kind.VARM:
        raise ValueError(
            f"adata.varm[{r.key!r}] holds programs only, no cell activities; pass the "
            "key_added of the result it came from."
        )
    if r.kind == Kind.DEEP:
        return np.asarray(adata.obsm[C.deep_keys(r.key).obsm(sel.layer)])
    if r.kind == Kind.PNMF:
        return np.asarray(adata.obsm[C.pnmf_keys(r.key).obsm_scales])[:, sel.scale, :]
    return np.asarray(adata.obsm[C.obsm_key(r.key)])


def loadings(adata: AnnData, sel: Selection, *, gene_scores: bool = False) -> np.ndarray:
    """Programs (n_vars × k) of the selection; ``gene_scores``: consensus specificity scores."""
    r = sel.result
    if r.kind == Kind.ACTIVITIES:
        raise ValueError(
            f"{r.record} holds cell activities only (e.g. a tl.project result), no programs of "
            "its own; pass the key of the result whose programs were used."
        )
    if r.kind == Kind.DEEP:
        name = C.deep_keys(r.key).varm(sel.layer)
    elif r.kind == Kind.CONSENSUS:
        keys = C.consensus_keys(r.key)
        name = keys.gene_scores if gene_scores else keys.programs
    elif r.kind == Kind.VARM:
        name = r.key
    else:
        name = C.loadings_key(r.key)
    if name not in adata.varm:
        raise KeyError(f"adata.varm[{name!r}] not found; rerun the tl function of {r.record}.")
    values = np.asarray(adata.varm[name])
    if r.kind == Kind.PNMF:
        values = values[:, sel.scale, :]
    if values.ndim != 2 or values.shape[1] != sel.n_programs:
        raise ValueError(
            f"adata.varm[{name!r}] has shape {values.shape}, not (n_vars, {sel.n_programs}); "
            f"rerun the tl function of {r.record}."
        )
    return values


def stored_names(adata: AnnData, sel: Selection) -> np.ndarray | None:
    """The names ``tl.rename_programs`` stored for the selection, or ``None``."""
    r = sel.result
    if r.kind == Kind.VARM:
        return None
    names = adata.uns[r.key].get(C.ProgramUns.PROGRAM_NAMES)
    if names is not None and r.kind == Kind.DEEP:
        names = names.get(str(sel.layer)) if isinstance(names, Mapping) else None
    return None if names is None else np.asarray(names)


def names(adata: AnnData, sel: Selection) -> list[str]:
    """Program names of the selection: those stored, else the defaults (``'<key>_0'`` …)."""
    stored = stored_names(adata, sel)
    k = sel.n_programs
    if stored is None:
        return C.default_program_names(sel.result.key, k, sel.layer)
    out = [str(n) for n in stored.ravel()]
    if len(out) != k or len(set(out)) != k:
        raise ValueError(
            f"{sel.result.record}[{C.ProgramUns.PROGRAM_NAMES!r}] holds {len(out)} names "
            f"({len(set(out))} distinct) for the {k} programs of {sel.where}; set them again "
            "with scnmf.tl.rename_programs."
        )
    return out
