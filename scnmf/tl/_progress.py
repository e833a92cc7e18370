"""Progress bars of the ``tl`` fits: tqdm, notebook-aware, silenced by scanpy's verbosity."""

from __future__ import annotations


def progress_enabled() -> bool:
    """Progress bars are shown unless scanpy's verbosity is at 'error' only."""
    import scanpy as sc

    return int(sc.settings.verbosity) >= 1


def progress_bar(total: int, desc: str):
    """A tqdm bar (notebook-aware) that respects scanpy's verbosity."""
    try:  # widget bars in notebooks only where ipywidgets can draw them
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not progress_enabled(), leave=False)
