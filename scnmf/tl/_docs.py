"""Docstring fragments shared by the ``tl`` functions."""

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
    Seed; the same seed gives identical results.
key_added
    Base name of the stored results (see Returns).
copy
    Return a modified copy instead of writing into ``adata``."""


def doc_params(**fragments: str):
    """Fill ``{name}`` placeholders in a docstring, indenting continuation lines to fit."""

    def decorate(func):
        indented = {k: v.replace("\n", "\n    ") for k, v in fragments.items()}
        func.__doc__ = func.__doc__.format(**indented)
        return func

    return decorate
