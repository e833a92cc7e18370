"""Docstring fragments shared by the ``tl`` functions."""

from .._docs import doc_params

__all__ = ["doc_adata", "doc_common", "doc_matrix_selection", "doc_params"]

doc_adata = """\
adata
    Annotated data matrix, cells × genes. Values must be nonnegative (counts or
    log1p-normalised data; not scaled/z-scored data)."""

doc_matrix_selection = """\
layer
    Factorise ``adata.layers[layer]`` instead of ``adata.X``.
mask_var
    Genes to use: a boolean array, a boolean column of ``adata.var``, or ``None`` for all
    genes. By default ``var['highly_variable']`` when present, else all genes. Loadings of
    genes left out are stored as zeros."""

doc_common = """\
random_state
    Seed: an integer 0 … 2³² − 1 (the same seed gives identical results), ``None`` (fresh
    entropy), or, as in scanpy, a :class:`numpy.random.Generator` or
    :class:`numpy.random.RandomState`, from which one integer seed is drawn (advancing it);
    the seed used is recorded in ``params``.
key_added
    Base name of the stored results (see Returns).
copy
    Return a modified copy instead of writing into ``adata``. A backed AnnData cannot be
    copied: use ``adata.to_memory()`` first, or ``copy=False``."""
