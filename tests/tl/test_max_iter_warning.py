"""A fit that stops at its iteration limit with its tolerance unmet says so (once)."""

import re

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from scanpy import logging as logg

import scnmf as snmf


def _adata() -> ad.AnnData:
    rng = np.random.default_rng(0)
    rates = rng.gamma(1.0, 1.0, (40, 1)) * rng.gamma(1.0, 1.0, (1, 20))
    X = rng.poisson(3.0 * rates).astype(np.float32)
    X[:, 0] += 1
    return ad.AnnData(sp.csr_matrix(X))


@pytest.fixture
def warnings(monkeypatch):
    """The messages of scanpy's ``logg.warning`` (as tests/tl/test_consensus.py captures them)."""
    seen: list[str] = []
    monkeypatch.setattr(logg, "warning", lambda msg, *args, **kw: seen.append(msg))
    return seen


#: function, its options with a tiny limit, the limit's name, the tolerance's name.
FITS = {
    "nmf": (lambda a, **kw: snmf.tl.nmf(a, 3, **kw), "max_iter", "tol", "NMF"),
    "nmf-mu-kl": (
        lambda a, **kw: snmf.tl.nmf(a, 3, beta_loss="kullback-leibler", **kw),
        "max_iter",
        "tol",
        "NMF",
    ),
    "gnmf": (lambda a, **kw: snmf.tl.gnmf(a, 3, **kw), "max_iter", "tol", "GNMF"),
    "deep_nmf": (
        lambda a, **kw: snmf.tl.deep_nmf(a, (4, 2), n_init_iter=10, **kw),
        "max_iter",
        "tol",
        "deep NMF",
    ),
    "pnmf": (
        lambda a, **kw: snmf.tl.pnmf(a, 3, n_sweeps=2, **kw),
        "max_inner_iter",
        "inner_tol",
        "pNMF",
    ),
}


@pytest.mark.parametrize("name", list(FITS))
def test_warns_at_max_iter(name, warnings):
    fit, limit, tol, what = FITS[name]
    adata = _adata()
    fit(adata, **{limit: 2})
    assert len(warnings) == 1, warnings  # pNMF: one summary for all its subproblems
    message = warnings[0]
    assert message.startswith(what)
    assert f"stopped at {limit}=2 unconverged (relative decrease " in message
    assert re.search(rf"> {tol}=\S+\); raise {limit}$", message), message
    if name == "pnmf":
        n = adata.uns["pnmf"]["n_inner_iter"].size
        assert message.startswith(f"pNMF: {n} of {n} scale subproblems")
    else:  # the number that did not fall below tol
        loss = np.asarray(adata.uns[name.split("-")[0]]["loss"], dtype=np.float64)
        decrease = abs(loss[-2] - loss[-1]) / abs(loss[-2])
        assert f"relative decrease {decrease:.2g} >" in message


@pytest.mark.parametrize("name", list(FITS))
def test_silent_with_tol_zero(name, warnings):
    fit, limit, tol, _ = FITS[name]
    fit(_adata(), **{limit: 2, tol: 0.0})
    assert warnings == []


@pytest.mark.parametrize("name", ["nmf", "gnmf", "deep_nmf"])
def test_silent_when_converged(name, warnings):
    fit, limit, tol, _ = FITS[name]
    adata = _adata()
    fit(adata, **{limit: 5000, tol: 0.1})
    assert adata.uns[name]["converged"] and warnings == []


def test_silent_for_agd_whose_stages_are_a_schedule(warnings):
    snmf.tl.nmf(_adata(), 3, solver="agd", max_iter=2, agd_options={"n_stages": 2})
    assert warnings == []
