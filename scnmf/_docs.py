"""Docstring templating shared by the ``tl`` and ``pl`` functions."""


def doc_params(**fragments: str):
    """Fill ``{name}`` placeholders in a docstring, indenting continuation lines to fit."""

    def decorate(func):
        indented = {k: v.replace("\n", "\n    ") for k, v in fragments.items()}
        func.__doc__ = func.__doc__.format(**indented)
        return func

    return decorate
