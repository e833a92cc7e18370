"""Torch device selection and the data matrix held on a device (dense, or CSR of X and Xᵀ)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def torch_available() -> bool:
    """Whether torch can be imported."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_device(device: str) -> str:
    """'auto' → 'cuda' when a GPU is visible, else 'cpu'; validate explicit names."""
    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"Unknown device {device!r}; use 'auto', 'cpu' or 'cuda'.")
    if device == "cpu":
        return "cpu"
    if not torch_available():
        if device == "auto":
            return "cpu"
        raise ValueError(
            "device='cuda' needs PyTorch with CUDA: pip install 'scnmf[gpu]' (or use device='cpu')."
        )
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA GPU is visible to PyTorch.")
    return device


class TorchData:
    """X on the device: dense tensor, or CSR of X and Xᵀ plus the value permutation."""

    def __init__(self, X, device: str):
        import torch

        self.torch = torch
        self.dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        self.device = device
        self.shape = X.shape
        self.sparse = sp.issparse(X)
        if self.sparse:
            X = sp.csr_matrix(X)
            X.sort_indices()
            order = np.arange(X.nnz, dtype=np.int64)
            Xt = sp.csr_matrix(
                (order.astype(np.float64), X.indices, X.indptr), shape=X.shape
            ).T.tocsr()
            Xt.sort_indices()
            self.perm = torch.as_tensor(Xt.data.astype(np.int64), device=device)
            self.X = self._csr(X.indptr, X.indices, X.data, X.shape)
            self.Xt = self._csr(Xt.indptr, Xt.indices, X.data[Xt.data.astype(np.int64)], Xt.shape)
            self.values = self.X.values()
            self.sq_norm = float(np.dot(X.data.astype(np.float64), X.data.astype(np.float64)))
        else:
            self.X = torch.as_tensor(np.ascontiguousarray(X), dtype=self.dtype, device=device)
            self.sq_norm = float((self.X.double() ** 2).sum())

    def _csr(self, indptr, indices, data, shape):
        t = self.torch
        return t.sparse_csr_tensor(
            t.as_tensor(indptr.astype(np.int64), device=self.device),
            t.as_tensor(indices.astype(np.int64), device=self.device),
            t.as_tensor(np.asarray(data), dtype=self.dtype, device=self.device),
            size=shape,
        )

    def with_values(self, values, transpose: bool = False):
        """A CSR with X's (or Xᵀ's) structure and new values (given in X's order)."""
        base = self.Xt if transpose else self.X
        vals = values[self.perm] if transpose else values
        return self.torch.sparse_csr_tensor(
            base.crow_indices(), base.col_indices(), vals, size=base.shape
        )

    def matmul(self, B):
        """X B."""
        return self.X @ B

    def matmul_t(self, A):
        """Xᵀ A."""
        return (self.Xt @ A) if self.sparse else self.X.T @ A

    def row_block(self, start: int, stop: int):
        """Rows ``start:stop`` of X as a dense tensor."""
        if not self.sparse:
            return self.X[start:stop]
        crow = self.X.crow_indices()
        a, b = int(crow[start]), int(crow[stop])
        block = self.torch.sparse_csr_tensor(
            crow[start : stop + 1] - a,
            self.X.col_indices()[a:b],
            self.values[a:b],
            size=(stop - start, self.shape[1]),
        )
        return block.to_dense()


def to_numpy(tensor, dtype) -> np.ndarray:
    """A tensor as a C-contiguous numpy array of ``dtype`` (copied to the host)."""
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=dtype)
