"""Options are checked once, at the tl boundary: one table per function, one message format."""

import inspect

import anndata as ad
import numpy as np
import pytest

import scnmf as snmf
from scnmf import _keys as C
from scnmf.tl import _checks
from scnmf.tl import _validate as V
from scnmf.tl._rules import option_error

TABLES = {
    "nmf": V.NMF_PARAMS,
    "gnmf": V.GNMF_PARAMS,
    "persistence": V.PERSISTENCE_PARAMS,
    "pnmf": V.PNMF_PARAMS,
    "deep_nmf": V.DEEP_NMF_PARAMS,
}
#: Parameters that are data selection or output plumbing, checked against the AnnData.
NOT_TABLED = {"adata", "layer", "mask_var", "copy", "init_W", "init_H"}


@pytest.mark.parametrize("func", list(TABLES))
def test_every_option_is_in_the_table_of_its_function(func):
    params = set(inspect.signature(getattr(snmf.tl, func)).parameters)
    assert set(TABLES[func].rules) == params - NOT_TABLED


def _small():
    rng = np.random.default_rng(0)
    return ad.AnnData(rng.poisson(2.0, (30, 12)).astype(np.float32))


BAD = [
    ("nmf", {"n_components": 2, "solver": "cd"}, "solver"),
    ("nmf", {"n_components": 2, "init": "svd"}, "init"),
    ("nmf", {"n_components": 2, "max_iter": -1}, "max_iter"),
    ("nmf", {"n_components": 2, "tol": float("nan")}, "tol"),
    ("nmf", {"n_components": 2, "beta_loss": "poisson"}, "beta_loss"),
    ("nmf", {"n_components": 2.5}, "n_components"),
    ("nmf", {"n_components": 2, "device": "tpu"}, "device"),
    ("nmf", {"n_components": 2, "device": "cuda:x"}, "device"),
    ("nmf", {"n_components": 2, "random_state": 1.5}, "random_state"),
    ("nmf", {"n_components": 2, "key_added": ""}, "key_added"),
    ("nmf", {"n_components": 2, "solver": "agd", "agd_options": {"warm_start": "x"}},
     "agd_options['warm_start']"),
    ("gnmf", {"n_components": 2, "weight": "cosine"}, "weight"),
    ("gnmf", {"n_components": 2, "init": "custom"}, "init"),
    ("gnmf", {"n_components": 2, "n_neighbors": 0}, "n_neighbors"),
    ("persistence", {"n_scales": 0}, "n_scales"),
    ("persistence", {"scales": [2.0, 1.0]}, "scales"),
    ("persistence", {"neighbors_key": 3}, "neighbors_key"),
    ("pnmf", {"n_components": 2, "normalize": "none"}, "normalize"),
    ("pnmf", {"n_components": 2, "reference_scale": "middle"}, "reference_scale"),
    ("pnmf", {"n_components": 2, "n_clusters": 1}, "n_clusters"),
    ("pnmf", {"n_components": 2, "persistence_key": ""}, "persistence_key"),
    ("deep_nmf", {"ranks": (4, 4)}, "ranks"),
    ("deep_nmf", {"ranks": (4, 2), "beta_loss": 0.5}, "beta_loss"),
    ("deep_nmf", {"ranks": (4, 2), "delta": 0.0}, "delta"),
    ("deep_nmf", {"ranks": (4, 2), "min_volume": "yes"}, "min_volume"),
]  # fmt: skip


@pytest.mark.parametrize("func,kwargs,name", BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_bad_option_names_itself_and_the_valid_options_before_any_work(func, kwargs, name):
    adata = _small()
    kwargs = dict(kwargs)
    args = (kwargs.pop("n_components"),) if "n_components" in kwargs else ()
    with pytest.raises(ValueError) as err:
        getattr(snmf.tl, func)(adata, *args, **kwargs)
    message = str(err.value)
    assert message.startswith("Invalid option ") and f" for {name}. Valid options are " in message
    assert not adata.uns and not adata.obsm


def test_use_rep_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="Invalid option 3 for use_rep"):
        snmf.tl.persistence(_small(), use_rep=3)


def test_choices_are_listed_from_their_enum():
    with pytest.raises(ValueError) as err:
        V.NMF_PARAMS.rules["solver"]("cd", "solver")
    assert str(err.value) == (
        "Invalid option 'cd' for solver. Valid options are 'auto', 'mu', 'hals' or 'agd'."
    )
    assert V.Solver.HALS == "hals" and str(V.Solver.HALS) == "hals"


#: tl.nmf options of issue 15 (regularisation, raw data, obs columns) at their defaults.
OPTIONS_ADDED_LATER = {
    "alpha_W": 0.0,
    "alpha_H": "same",
    "l1_ratio": 0.0,
    "use_raw": False,
    "add_to_obs": False,
}


def test_rules_normalise_what_they_accept():
    o = V.NMF_PARAMS.validate(
        {
            "n_components": np.int64(3),
            "beta_loss": "Kullback-Leibler",
            "solver": "mu",
            "init": "random",
            "max_iter": 0,
            "tol": 0,
            "device": "cuda:1",
            "random_state": np.int32(4),
            "key_added": "k",
            "agd_options": None,
            **OPTIONS_ADDED_LATER,
        }
    )
    assert (o.n_components, o.beta_loss, o.tol, o.random_state) == (3, 1.0, 0.0, 4)
    assert type(o.n_components) is int and type(o.random_state) is int
    assert o.device == "cuda:1"  # checked, not resolved: the core resolves devices
    assert o.agd_options == {}


def test_device_is_checked_not_resolved():
    rule = V.Device()
    assert [rule(d, "device") for d in ("auto", "cpu", "cuda", "cuda:0")] == [
        "auto",
        "cpu",
        "cuda",
        "cuda:0",
    ]
    for bad in ("gpu", "cuda:", "cuda:a", None, 0):
        with pytest.raises(ValueError, match="Valid options are 'auto', 'cpu', 'cuda' or 'cuda:N'"):
            rule(bad, "device")


def test_constraints_between_options():
    base = {
        "n_components": 2,
        "beta_loss": "kullback-leibler",
        "solver": "auto",
        "init": "nndsvda",
        "max_iter": 1,
        "tol": 0.0,
        "device": "cpu",
        "random_state": 0,
        "key_added": "nmf",
        "agd_options": None,
        **OPTIONS_ADDED_LATER,
    }
    V.NMF_PARAMS.validate(base)  # auto never conflicts with β
    with pytest.raises(ValueError, match="Frobenius loss only"):
        V.NMF_PARAMS.validate(base | {"solver": "hals"})
    with pytest.raises(ValueError, match="only applies to solver='agd'"):
        V.NMF_PARAMS.validate(base | {"beta_loss": 2, "agd_options": {"n_stages": 2}})


def test_rank_bound_uses_the_same_formatter():
    with pytest.raises(ValueError, match=r"Invalid option 9 for ranks\[0\]\. .*impossible"):
        _checks.check_ranks((9, 2), (5, 8))
    assert _checks.check_ranks((5, 2), (5, 8)) == (5, 2)


def test_option_error_formats_arrays_and_fixes():
    err = option_error("scales", np.array([2.0, 1.0]), "increasing numbers", fix="Sort them.")
    assert isinstance(err, ValueError)
    assert str(err) == (
        "Invalid option array [2.0, 1.0] for scales. Valid options are increasing numbers. "
        "Sort them."
    )


def test_tl_choices_match_what_the_core_implements():
    from scnmf._core.deep.updates import SUPPORTED_BETAS
    from scnmf._core.nmf.init import INIT_NAMES

    assert V.Init.values() == tuple(INIT_NAMES)
    assert V.DEEP_BETAS == tuple(SUPPORTED_BETAS)


def test_keys_records_spell_the_storage_contract():
    f = C.factor_keys("nmf")
    assert (f.uns, f.obsm, f.varm) == ("nmf", "X_nmf", "nmf_loadings")
    p = C.pnmf_keys("pnmf")
    assert (p.obsm, p.obsm_scales, p.varm) == ("X_pnmf", "X_pnmf_scales", "pnmf_loadings")
    d = C.deep_keys("deep_nmf")
    assert (d.obsm(2), d.varm(2), d.obs(2)) == ("X_deep_nmf_l2", "deep_nmf_l2", "deep_nmf_l2")


def test_atomic_writer_never_leaves_a_partial_file(tmp_path):
    from scnmf._io import write_h5ad_atomic

    target = tmp_path / "sub" / "out.h5ad"
    write_h5ad_atomic(_small(), target, force=False)
    assert ad.read_h5ad(target).shape == (30, 12)
    with pytest.raises(FileExistsError, match="--force"):
        write_h5ad_atomic(_small(), target, force=False)

    class Broken:
        def write_h5ad(self, path):
            open(path, "w").write("half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_h5ad_atomic(Broken(), target, force=True)
    assert ad.read_h5ad(target).shape == (30, 12)  # the old file is intact
    assert not list(target.parent.glob("*.part"))
