"""Shared plumbing for ``pl`` functions: stored results, option checks, finishing figures.

Every ``pl`` function reads through :func:`stored` / :func:`stored_record`, opens its Axes
with :func:`new_axes` (or checks a given ``ax`` there) and ends with :func:`finish`, so a
wrong key, a wrong ``ax``, ``show``, ``return_fig`` or ``save`` is refused in one place for
all of them, with the fix. Plots only read: the AnnData is never modified.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from anndata import AnnData


def _a(value: Any) -> str:
    """'a str', 'an int', 'a NoneType': the type of ``value`` with its article."""
    name = type(value).__name__
    vowel = name[0].lower() in "aeiou" or name.startswith("nd")  # "an ndarray"
    return f"{'an' if vowel else 'a'} {name}"


def check_key(key: Any, producer: str, name: str = "key") -> str:
    """``key`` as given when it is a non-empty string, else a TypeError/ValueError with the fix."""
    if not isinstance(key, str):
        raise TypeError(
            f"{name}={key!r} is {_a(key)}, not a string; pass the key_added "
            f"(a str) you used in {producer.split('(')[0]}."
        )
    if not key:
        raise ValueError(
            f"{name}='' is empty; pass the key_added you used in {producer.split('(')[0]}."
        )
    return key


def stored(adata: AnnData, key: str, producer: str, *, where: str = "uns") -> Any:
    """What ``producer`` stored under ``adata.<where>[key]``, or a KeyError saying what to run."""
    if not isinstance(adata, AnnData):
        raise TypeError(
            f"Expected an AnnData, got {_a(adata)}; pass the AnnData that "
            f"{producer.split('(')[0]} wrote to."
        )
    check_key(key, producer)
    container = getattr(adata, where)
    if key not in container:
        raise KeyError(
            f"adata.{where}[{key!r}] not found; run {producer} first "
            f"(or pass the key_added you used there)."
        )
    return container[key]


def stored_record(adata: AnnData, key: str, producer: str, fields: Sequence[str]) -> Mapping:
    """``adata.uns[key]`` as a mapping holding ``fields``, or a KeyError/TypeError with the fix."""
    record = stored(adata, key, producer)
    name = producer.split("(")[0]
    if not isinstance(record, Mapping):
        raise TypeError(
            f"adata.uns[{key!r}] is {_a(record)}, not a record of {name}; pass "
            f"the key_added of a {name} result, or run {producer}."
        )
    missing = [f for f in fields if f not in record]
    if missing:
        raise KeyError(
            f"adata.uns[{key!r}] holds no {missing[0]!r}; it was not written by {name}. Pass "
            f"the key_added of a {name} result, or run {producer}."
        )
    return record


def obs_column(adata: AnnData, column: Any, name: str, other: str = "") -> str:
    """A column of ``adata.obs`` named by option ``name``, or a KeyError listing the columns.

    ``other`` names a value accepted besides the columns (e.g. ``"'genes'"``).
    """
    columns = list(adata.obs.columns)
    if not isinstance(column, str) or column not in adata.obs.columns:
        shown = ", ".join(repr(c) for c in columns[:10]) + (", …" if len(columns) > 10 else "")
        either = f"{other} or " if other else ""
        raise KeyError(
            f"{name}={column!r} is not a column of adata.obs; pass {either}one of its columns "
            f"({shown or 'adata.obs has none'})."
        )
    return column


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def count(value: Any, name: str, *, minimum: int = 1, example: int = 10) -> int:
    """An integer option ≥ ``minimum`` (a TypeError for other types, a ValueError below it)."""
    if not _is_integer(value):
        raise TypeError(
            f"{name}={value!r} is not an integer; pass an integer ≥ {minimum}, e.g. "
            f"{name}={example}."
        )
    if value < minimum:
        raise ValueError(
            f"{name}={value!r} is out of range; pass an integer ≥ {minimum}, e.g. {name}={example}."
        )
    return int(value)


def indices(value: Any, size: int, name: str, what: str) -> list[int]:
    """``None`` (all), one index or a sequence of indices into ``size`` items, checked."""
    if value is None:
        return list(range(size))
    items = [value] if _is_integer(value) else value
    if isinstance(items, str | bytes) or not isinstance(items, Sequence | np.ndarray):
        raise TypeError(
            f"{name}={value!r} is not an index or a list of indices; pass integers in "
            f"0 … {size - 1}, e.g. {name}=[0, 1]."
        )
    items = list(np.asarray(items).ravel()) if isinstance(items, np.ndarray) else list(items)
    if not items:
        raise ValueError(f"{name} is empty; pass at least one index in 0 … {size - 1}.")
    wrong = [v for v in items if not _is_integer(v)]
    if wrong:
        raise TypeError(
            f"{name} holds {wrong[0]!r}, which is not an integer; pass integers in 0 … {size - 1}."
        )
    bad = [int(v) for v in items if not 0 <= v < size]
    if bad:
        raise ValueError(
            f"{name} {bad} out of range: the result has {size} {what} (0…{size - 1}); pass "
            f"indices in that range."
        )
    return [int(v) for v in items]


def fraction(value: Any, name: str, *, upper: float = 1.0, closed: bool = True) -> float:
    """A real number in [0, ``upper``] (or [0, ``upper``) when ``closed`` is False)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{name}={value!r} is not a number; pass a number in [0, {upper:g}].")
    inside = 0 <= value <= upper if closed else 0 <= value < upper
    if not np.isfinite(value) or not inside:
        bracket = "]" if closed else ")"
        raise ValueError(
            f"{name}={value!r} is out of range; pass a number in [0, {upper:g}{bracket}."
        )
    return float(value)


def flag(value: Any, name: str, *, allow_none: bool = False) -> bool | None:
    """A bool option (``None`` too when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, bool | np.bool_):
        options = "True, False or None" if allow_none else "True or False"
        raise TypeError(f"{name}={value!r} is not a bool; pass {options}.")
    return bool(value)


def new_axes(ax=None, figsize: tuple[float, float] = (5.0, 4.0)):
    """Reuse ``ax`` (a matplotlib Axes) or open a new figure."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    elif not isinstance(ax, Axes):
        raise TypeError(
            f"ax={ax!r} is {_a(ax)}, not a matplotlib Axes; pass one Axes "
            "(e.g. fig, ax = plt.subplots()) or ax=None for a new figure."
        )
    else:
        fig = ax.figure
    return fig, ax


def given_axes(ax: Any, n: int, what: str) -> list | None:
    """A multi-panel function's ``ax``: ``n`` Axes of one figure, or ``None`` (own figure).

    One Axes is accepted when ``n == 1``; otherwise a sequence (list, tuple or array) of
    exactly ``n`` Axes, one per ``what``.
    """
    from matplotlib.axes import Axes

    if ax is None:
        return None
    items = [ax] if isinstance(ax, Axes) else ax
    if isinstance(items, np.ndarray):
        items = list(items.ravel())
    fix = (
        f"pass {n} Axes in a list, one per {what} (e.g. fig, axes = plt.subplots(1, {n})), or "
        "ax=None for a new figure"
    )
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise TypeError(f"ax={ax!r} is {_a(ax)}, not a matplotlib Axes or a list of them; {fix}.")
    items = list(items)
    wrong = [a for a in items if not isinstance(a, Axes)]
    if wrong:
        raise TypeError(f"ax holds {_a(wrong[0])}, not a matplotlib Axes; {fix}.")
    if len(items) != n:
        raise ValueError(f"ax holds {len(items)} Axes but this figure has {n} panels; {fix}.")
    if len({id(a.figure) for a in items}) > 1:
        raise ValueError(f"the Axes in ax belong to different figures; {fix}.")
    return items


def _writekey(name: str | None) -> str:
    """Scanpy's ``writekey``: the pl function's name (the caller of :func:`finish`)."""
    if name:
        return name
    frame = sys._getframe(2)  # finish's caller: the pl function itself
    return frame.f_code.co_name


_SAVE_FIX = (
    "pass save=True (writes sc.settings.figdir/<function>.png), a suffix "
    "(save='figure.png' writes figdir/<function>figure.png, save='.pdf' a PDF), a path with "
    "a folder (save='./figure.png'), or None"
)


def save_path(fig, save: Any, name: str | None = None) -> Path | None:
    """Where ``save`` writes (``None``: nowhere), as scanpy's ``savefig_or_show``.

    ``True`` is ``sc.settings.figdir / f"{name}{plot_suffix}.{file_format_figs}"``; a
    str without a folder is a suffix of ``name``, its extension (when matplotlib can write
    it) setting the format; a str with a folder, or a :class:`~pathlib.Path`, is the file
    itself (scanpy would look for that folder inside figdir). Wrong types and places raise a
    TypeError/ValueError with the fix.
    """
    if save is None or save is False:
        return None
    supported = fig.canvas.get_supported_filetypes()
    if save is True or (isinstance(save, str) and save and not _has_folder(save)):
        import scanpy as sc

        suffix, ext = ("", None) if save is True else (save, None)
        stem, dot, tail = suffix.rpartition(".")
        if dot and tail.lower() in supported:
            suffix, ext = stem, tail.lower()
        ext = ext or str(sc.settings.file_format_figs)
        figdir = Path(sc.settings.figdir)
        if figdir.exists() and not figdir.is_dir():
            raise ValueError(
                f"sc.settings.figdir={str(figdir)!r} is a file, not a folder; set "
                "sc.settings.figdir to a folder, or pass a path with a folder as save."
            )
        return figdir / f"{name}{suffix}{sc.settings.plot_suffix}.{ext}"
    if not isinstance(save, str | os.PathLike):
        raise TypeError(
            f"save={save!r} is {_a(save)}, not a file path, a suffix or True; {_SAVE_FIX}."
        )
    path = Path(save)
    if not str(save) or path.name in ("", ".", ".."):
        raise ValueError(f"save={save!r} names no file; {_SAVE_FIX}.")
    if path.exists() and path.is_dir():
        raise ValueError(
            f"save={str(save)!r} is a folder; pass a file path inside it, e.g. "
            f"save={str(path / 'figure.png')!r}."
        )
    parent = path.parent
    if not parent.is_dir():
        problem = "is not a folder" if parent.exists() else "does not exist"
        raise ValueError(
            f"save={str(save)!r}: {str(parent)!r} {problem}; create the folder first or "
            "save elsewhere."
        )
    suffix = path.suffix[1:].lower()
    if suffix and suffix not in supported:
        raise ValueError(
            f"save={str(save)!r}: format {suffix!r} is not supported; use one of "
            f"{sorted(supported)} as the file extension."
        )
    return path


def _has_folder(save: str) -> bool:
    return "/" in save or os.sep in save or (os.altsep is not None and os.altsep in save)


def _dpi() -> float:
    """Scanpy's rule: ``rcParams['savefig.dpi']`` unless it is below 150 (or 'figure')."""
    from matplotlib import rcParams

    dpi = rcParams["savefig.dpi"]
    return dpi if not isinstance(dpi, str) and dpi >= 150 else 150


def finish(
    fig,
    axes,
    *,
    show: bool | None,
    return_fig: bool | None,
    save: Any = None,
    name: str | None = None,
):
    """Scanpy-style ending (``savefig_or_show``): save, show, or hand back the Figure/Axes.

    ``name`` is scanpy's ``writekey`` for ``save=True`` or a suffix (by default the name
    of the calling ``pl`` function). The options are checked before anything is written;
    on a bad option the figure is closed (nothing is left open) and the error names the
    fix. As scanpy, a saved figure is closed after it is written (it is still returned).
    """
    import matplotlib.pyplot as plt

    try:
        show = flag(show, "show", allow_none=True)
        return_fig = flag(False if return_fig is None else return_fig, "return_fig")
        path = save_path(fig, save, _writekey(name))
    except (TypeError, ValueError):
        plt.close(fig)
        raise
    if show is None:
        import scanpy as sc

        show = bool(sc.settings.autoshow) and plt.get_backend().lower() not in ("agg", "pdf")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight", dpi=_dpi())
    if show:
        plt.show()
    if path is not None:
        plt.close(fig)
    if show:
        return None
    return fig if return_fig else axes


#: Docstring fragments for the output contract implemented by :func:`finish`.
doc_ax = """\
ax
    Axes to draw on; a new figure otherwise."""
doc_output = """\
show
    Show the figure; ``None`` follows ``sc.settings.autoshow`` (off for a non-interactive
    backend such as Agg).
return_fig
    Return the Figure instead of the Axes.
save
    As scanpy: ``True`` writes ``sc.settings.figdir/<function><sc.settings.plot_suffix>.``
    ``<sc.settings.file_format_figs>``; a str is a suffix of that name whose extension
    sets the format (``save='_pbmc.pdf'``); a str with a folder (``'./fig.png'``) or a
    :class:`~pathlib.Path` is the file itself. A saved figure is closed."""
doc_returns_axes = "The Axes (or the Figure with ``return_fig=True``; ``None`` when shown)."
doc_returns_axes_array = (
    "The array of Axes (or the Figure with ``return_fig=True``; ``None`` when shown)."
)
PL_DOCS = {
    "doc_ax": doc_ax,
    "doc_output": doc_output,
    "doc_returns_axes": doc_returns_axes,
    "doc_returns_axes_array": doc_returns_axes_array,
}
