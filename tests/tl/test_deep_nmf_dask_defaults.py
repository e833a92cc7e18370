"""``tl.deep_nmf`` at its default settings: dask-backed AnnData against the in-memory call.

Kept apart from :mod:`test_deep_nmf_backends` so no module-scoped cluster is active: the
1500+ passes of a default fit run on dask's local scheduler, where a pass costs
milliseconds (the cluster path is checked there on short fits).

The counts are float64 here. The default stop (relative decrease below 1e-6 per sweep) is a
threshold: in float32 the two evaluation orders (row blocks against one pass) differ by
~1e-7 relative, a tenth of the decrease being tested, so which sweep stops is a coin toss
between machines, and one sweep more moves the factors ~2e-4. In float64 the orders differ by
~1e-16 and the stop, and with it the 1e-5 bar, is reproducible on any CPU. Float32 agreement
at a fixed number of sweeps is checked in :mod:`test_deep_nmf_backends`.
"""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scnmf as snmf
from scnmf import _keys as C

KEY = C.DEEP_NMF_KEY
RANKS = (4, 2)


@pytest.fixture
def small():
    """80 cells × 50 genes of counts, CSR float64 (see the module docstring for why)."""
    rng = np.random.default_rng(5)
    X = rng.poisson(rng.gamma(0.4, 2.0, (80, 1)) * rng.gamma(0.6, 1.0, (1, 50))).astype(np.float64)
    X[:, 0] += 1
    X[0, :] += 1
    obs = pd.DataFrame(index=[f"c{i}" for i in range(80)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(50)])
    return ad.AnnData(sp.csr_matrix(X), obs=obs, var=var)


def _relative(got: np.ndarray, ref: np.ndarray) -> float:
    """‖got − ref‖_F / ‖ref‖_F, in float64."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("dense", [False, True], ids=["csr-chunks", "dense-chunks"])
def test_dask_equals_in_memory_at_default_settings(small, dense):
    """Issue 12: the default call on dask-backed AnnData within 1e-5 of the in-memory call."""
    da = pytest.importorskip("dask.array")
    memory = small.copy()
    if dense:
        memory.X = small.X.toarray()  # the storage of the chunks: the same evaluation path
    lazy = small.copy()
    lazy.X = da.from_array(memory.X, chunks=(30, small.n_vars), asarray=False)
    # Default settings, plus the opt-in baseline so its errors are compared too.
    ref = snmf.tl.deep_nmf(memory, RANKS, device="cpu", copy=True, multilayer_baseline=True)
    got = snmf.tl.deep_nmf(lazy, RANKS, device="cpu", copy=True, multilayer_baseline=True)
    assert got.uns[KEY]["params"]["device"] == "dask"
    assert got.uns[KEY]["n_iter"] == ref.uns[KEY]["n_iter"]
    off = {}
    for ell in range(1, len(RANKS) + 1):
        for store, key in (("obsm", C.layer_obsm_key(KEY, ell)), ("varm", C.layer_key(KEY, ell))):
            off[f"{store} l{ell}"] = _relative(getattr(got, store)[key], getattr(ref, store)[key])
    u, v = got.uns[KEY], ref.uns[KEY]
    off["H2"] = _relative(u["H"]["2"], v["H"]["2"])
    for name in ("deep", "multilayer"):
        off[f"errors {name}"] = _relative(u["errors"][name], v["errors"][name])
    assert max(off.values()) <= 1e-5, off
