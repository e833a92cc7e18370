"""``scnmf consensus IN.h5ad -o OUT.h5ad``: the result, the figures, the rank list, errors."""

import anndata as ad
import numpy as np
import pytest

import scnmf
from scnmf.cli import main, parse_ranks

FAST = ["--n-replicates", "3", "--max-iter", "30"]


@pytest.fixture
def h5ad_file(adata, tmp_path):
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.fixture
def no_fit(monkeypatch):
    def fit_ran(*args, **kwargs):
        raise AssertionError("the fit ran before the problem was reported")

    monkeypatch.setattr(scnmf.tl, "consensus_nmf", fit_ran)


def test_writes_result_and_figures(h5ad_file, tmp_path):
    out, figs = tmp_path / "out.h5ad", tmp_path / "figs"
    argv = ["consensus", str(h5ad_file), "-o", str(out), "--n-components", "2-4", *FAST]
    assert main([*argv, "--figures", str(figs)]) == 0
    result = ad.read_h5ad(out)
    record = result.uns["cnmf"]
    np.testing.assert_array_equal(record["k_selection"]["k"], [2, 3, 4])
    k = int(record["k"])
    assert result.obsm["X_cnmf"].shape == (result.n_obs, k)
    assert result.varm["cnmf_programs"].shape == (result.n_vars, k)
    assert record["params"]["n_replicates"] == 3 and record["params"]["init"] == "random"
    for name in ("k_selection.png", "consensus_clustergram.png"):
        assert (figs / name).stat().st_size > 1000, name
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part*"))


def test_options_reach_the_fit(h5ad_file, tmp_path):
    out = tmp_path / "out.h5ad"
    argv = ["consensus", str(h5ad_file), "-o", str(out), "-k", "2,4", *FAST]
    extra = ["--key-added", "run", "--select", "4", "--density-threshold", "2"]
    extra += ["--random-state", "7"]
    assert main([*argv, *extra, "--beta-loss", "kullback-leibler", "--device", "cpu"]) == 0
    record = ad.read_h5ad(out).uns["run"]
    params = record["params"]
    assert int(record["k"]) == 4 and params["select"] == 4
    assert params["density_threshold"] == 2.0 and params["random_state"] == 7
    assert params["beta_loss"] == 1.0 and params["solver"] == "mu"
    assert int(record["k_selection"]["n_filtered"].sum()) == 0  # threshold 2 keeps all


@pytest.mark.parametrize(
    ("text", "ranks"),
    [
        ("7", [7]),
        ("5-8", [5, 6, 7, 8]),
        ("5-12:2", [5, 7, 9, 11]),
        ("5,7,9", [5, 7, 9]),
        ("3-4, 7", [3, 4, 7]),
        ("10-20:5", [10, 15, 20]),
    ],
)
def test_parse_ranks(text, ranks):
    assert parse_ranks(text) == ranks


@pytest.mark.parametrize("text", ["", "a", "5-", "-5", "8-5", "5-9:0", "5:2", "5,,7", "5-9:x"])
def test_parse_ranks_refuses(text):
    with pytest.raises(ValueError, match=r"--n-components .* e\.g\. 7, 5-12"):
        parse_ranks(text)


def test_bad_rank_list_is_a_clean_error(h5ad_file, tmp_path, capsys, no_fit):
    out = tmp_path / "o.h5ad"
    assert main(["consensus", str(h5ad_file), "-o", str(out), "-k", "12-5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scnmf consensus: error: --n-components '12-5'") and "5-12" in err
    assert not out.exists()


def test_output_checked_before_the_fit(h5ad_file, tmp_path, capsys, no_fit):
    out = tmp_path / "out.h5ad"
    out.write_bytes(b"keep me")
    assert main(["consensus", str(h5ad_file), "-o", str(out), "-k", "2-3"]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = ["consensus", str(h5ad_file), "-o", str(tmp_path / "o.h5ad"), "--figures", blocker]
    assert main([str(a) for a in argv]) == 2
    assert "--figures" in capsys.readouterr().err


def test_invalid_option_from_the_tool(h5ad_file, tmp_path, capsys):
    out = tmp_path / "o.h5ad"
    assert main(["consensus", str(h5ad_file), "-o", str(out), "-k", "1-3", *FAST]) == 2
    err = capsys.readouterr().err
    assert "n_components" in err and "k ≥ 2" in err and "\n" == err[-1] and err.count("\n") == 1
    assert not out.exists()
