"""``tl.deep_nmf``'s multilayer baseline is opt-in (issue 16, item 3).

The baseline is a second, plain multilayer fit used only to report "deep vs layer-by-layer"
errors. Off by default it must cost nothing (no layer-1 iterations of the ``'baseline'``
phase), leave no placeholder in the record (no NaN), change none of the stored factors, and
the plot must say it was not computed; ``multilayer_baseline=True`` restores it.
"""

from collections import Counter

import matplotlib
import numpy as np
import pytest
import scanpy as sc

import scnmf as snmf
from scnmf import _keys as C
from scnmf.tl import _deep_nmf

matplotlib.use("Agg")

U = C.DeepUns
KEY = C.DEEP_NMF_KEY
RANKS = (4, 2)
N_INIT, N_SWEEPS = 12, 8
FAST = {"n_init_iter": N_INIT, "max_iter": N_SWEEPS, "tol": 0}


@pytest.fixture(scope="module")
def data():
    return snmf.datasets.two_level_hierarchy(n_cells=120, n_genes=80, random_state=2)


def _fit_counting(monkeypatch, adata, **kwargs) -> Counter:
    """Fit, counting the steps the core reports per phase (``'init'``, ``'sweep'``, …)."""
    steps: Counter = Counter()
    core = _deep_nmf.fit_deep

    def spy(*args, callback=None, **kw):
        def counting(phase, step, value):
            if step:  # step 0 reports the starting value, not an iteration
                steps[phase] += 1
            return callback(phase, step, value) if callback is not None else None

        return core(*args, callback=counting, **kw)

    with monkeypatch.context() as patched:  # undone on return: spies never stack
        patched.setattr(_deep_nmf, "fit_deep", spy)
        snmf.tl.deep_nmf(adata, RANKS, **FAST, **kwargs)
    return steps


def test_default_skips_the_baseline_and_its_iterations(monkeypatch, data):
    off, on = data.copy(), data.copy()
    steps_off = _fit_counting(monkeypatch, off)
    steps_on = _fit_counting(monkeypatch, on, multilayer_baseline=True)
    # Same deep fit; the baseline alone adds max_iter layer-1 iterations.
    assert steps_off["baseline"] == 0 and steps_on["baseline"] == N_SWEEPS
    assert steps_off["sweep"] == steps_on["sweep"] == N_SWEEPS
    assert steps_off["init"] == steps_on["init"] > 0
    assert sum(steps_on.values()) - sum(steps_off.values()) == N_SWEEPS

    errors_off, errors_on = off.uns[KEY][U.ERRORS], on.uns[KEY][U.ERRORS]
    assert set(errors_off) == {U.DEEP}  # absent, not a NaN placeholder
    assert set(errors_on) == {U.DEEP, U.MULTILAYER}
    assert errors_on[U.MULTILAYER].shape == (len(RANKS),)
    assert np.all(np.isfinite(errors_on[U.MULTILAYER])) and np.all(errors_on[U.MULTILAYER] > 0)
    assert off.uns[KEY]["params"]["multilayer_baseline"] is False
    assert on.uns[KEY]["params"]["multilayer_baseline"] is True
    # The baseline is a separate fit: the stored deep results do not depend on it.
    np.testing.assert_array_equal(errors_off[U.DEEP], errors_on[U.DEEP])
    np.testing.assert_array_equal(off.uns[KEY]["loss"], on.uns[KEY]["loss"])
    for ell in range(1, len(RANKS) + 1):
        for slot, key in (("obsm", C.layer_obsm_key(KEY, ell)), ("varm", C.layer_key(KEY, ell))):
            np.testing.assert_array_equal(getattr(off, slot)[key], getattr(on, slot)[key])


def test_default_record_is_finite_and_round_trips(data, tmp_path):
    adata = data.copy()
    snmf.tl.deep_nmf(adata, RANKS, **FAST)
    path = tmp_path / "deep_default.h5ad"
    adata.write_h5ad(path)
    back = sc.read_h5ad(path).uns[KEY]
    assert set(back[U.ERRORS]) == {U.DEEP}
    np.testing.assert_array_equal(back[U.ERRORS][U.DEEP], adata.uns[KEY][U.ERRORS][U.DEEP])
    for name in ("loss", "layer_loss", "lambdas"):
        assert np.all(np.isfinite(back[name])), name


def test_layer_errors_says_the_baseline_was_not_computed(data):
    import matplotlib.pyplot as plt

    adata = data.copy()
    snmf.tl.deep_nmf(adata, RANKS, **FAST)
    ax = snmf.pl.layer_errors(adata, show=False)
    assert len(ax.patches) == len(RANKS)  # deep bars only
    assert "not computed" in ax.get_title() and "multilayer_baseline=True" in ax.get_title()
    with pytest.raises(KeyError, match="multilayer_baseline=True"):
        snmf.pl.layer_errors(adata, relative=True, show=False)

    snmf.tl.deep_nmf(adata, RANKS, multilayer_baseline=True, key_added="with_base", **FAST)
    ax = snmf.pl.layer_errors(adata, key="with_base", show=False)
    assert len(ax.patches) == 2 * len(RANKS) and "not computed" not in ax.get_title()
    plt.close("all")
