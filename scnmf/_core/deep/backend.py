"""The layer-1 backend of deep β-NMF for a matrix and a device (see :mod:`.factor`)."""

from __future__ import annotations

from .._backends.select import Backend, choose_backend


def open_layer1(X, beta: float, device: str | Backend = "cpu"):
    """The layer-1 backend for ``X`` (genes × cells) and the name of where it runs.

    The backend is picked by :func:`scnmf._core._backends.select.choose_backend`, the
    choice every fit makes; the modules of the other backends are never imported.

    Parameters
    ----------
    X
        Nonnegative floating data, genes × cells: numpy, scipy.sparse, or a dask array whose
        cells are chunked and genes held in one chunk (i.e. ``X.T`` is row-chunked).
    beta
        β of the divergence.
    device
        ``'cpu'``: numpy/numba in host memory; ``'cuda'``, ``'cuda:1'``: torch on that GPU;
        ``'auto'``: a GPU when torch sees one, else ``'cpu'``; a
        :class:`~scnmf._core._backends.select.Backend` as given (``Backend('torch', 'cpu')``
        runs torch on its CPU build). A dask array runs on dask whatever the device.

    Returns
    -------
    layer1
        ``HostLayer1``, ``TorchLayer1`` or ``DaskLayer1``.
    name
        ``'cpu'``, ``'dask'`` or the torch device (:attr:`Backend.name`).

    Raises
    ------
    ValueError
        For an unknown device, or a CUDA device that torch cannot see.
    """
    backend = choose_backend(X, device)
    if backend.kind == "dask":
        from .layers_dask import DaskLayer1

        return DaskLayer1(X, beta), backend.name
    if backend.kind == "torch":
        from .layers_torch import TorchLayer1

        return TorchLayer1(X, beta, backend.device), backend.name
    from .layers_host import HostLayer1

    return HostLayer1(X, beta), backend.name
