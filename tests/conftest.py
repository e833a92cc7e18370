import os

import matplotlib
import numpy as np
import pytest
import scipy.sparse as sp

matplotlib.use("Agg")
os.environ.setdefault("SCNMF_FAST", "1")


@pytest.fixture
def counts():
    """Small scRNA-like count matrix (dense float64, ~15% nonzero)."""
    rng = np.random.default_rng(0)
    rates = rng.gamma(0.3, 2.0, (120, 1)) * rng.gamma(0.5, 1.0, (1, 80))
    X = rng.poisson(rates).astype(np.float64)
    X[:, 0] += 1  # no empty cell
    return X


@pytest.fixture
def counts_csr(counts):
    return sp.csr_matrix(counts)


@pytest.fixture
def adata(counts):
    import anndata as ad
    import pandas as pd

    obs = pd.DataFrame(index=[f"cell{i}" for i in range(counts.shape[0])])
    var = pd.DataFrame(index=[f"gene{j}" for j in range(counts.shape[1])])
    return ad.AnnData(sp.csr_matrix(counts.astype(np.float32)), obs=obs, var=var)


def planted(n=200, m=60, k=4, seed=0, density=1.0):
    rng = np.random.default_rng(seed)
    W = rng.gamma(1.0, 1.0, (n, k)) * (rng.random((n, k)) < density)
    H = rng.gamma(1.0, 1.0, (k, m)) * (rng.random((k, m)) < 0.6)
    return W, H, W @ H


@pytest.fixture(scope="module")
def client():
    """A dask.distributed LocalCluster with 2 single-threaded workers (one per test module)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()
