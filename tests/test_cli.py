import anndata as ad
import numpy as np
import pytest

from scnmf.cli import main


@pytest.fixture
def h5ad_file(adata, tmp_path):
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    return path


def test_cli_nmf_writes_result_and_figures(h5ad_file, tmp_path, capsys):
    out = tmp_path / "out.h5ad"
    figs = tmp_path / "figs"
    code = main(
        [
            "nmf",
            str(h5ad_file),
            "-o",
            str(out),
            "--n-components",
            "3",
            "--beta-loss",
            "kullback-leibler",
            "--max-iter",
            "15",
            "--figures",
            str(figs),
        ]
    )
    assert code == 0
    result = ad.read_h5ad(out)
    assert result.obsm["X_nmf"].shape == (result.n_obs, 3)
    assert result.uns["nmf"]["params"]["beta_loss"] == 1.0
    assert (figs / "nmf_loadings.png").stat().st_size > 1000
    assert (figs / "nmf_loss.png").is_file()
    assert not list(tmp_path.glob("*.part"))


def test_cli_numeric_beta(h5ad_file, tmp_path):
    out = tmp_path / "out.h5ad"
    assert (
        main(
            [
                "nmf",
                str(h5ad_file),
                "-o",
                str(out),
                "-k",
                "2",
                "--beta-loss",
                "1.5",
                "--max-iter",
                "5",
            ]
        )
        == 0
    )
    assert ad.read_h5ad(out).uns["nmf"]["params"]["beta_loss"] == 1.5


def test_cli_refuses_overwrite_without_force(h5ad_file, tmp_path, capsys):
    out = tmp_path / "out.h5ad"
    out.write_bytes(b"keep me")
    assert main(["nmf", str(h5ad_file), "-o", str(out), "-k", "2", "--max-iter", "3"]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert (
        main(["nmf", str(h5ad_file), "-o", str(out), "-k", "2", "--max-iter", "3", "--force"]) == 0
    )
    assert ad.read_h5ad(out).obsm["X_nmf"].shape[1] == 2


def test_cli_clear_errors(tmp_path, capsys, h5ad_file):
    assert main(["nmf", str(tmp_path / "missing.h5ad"), "-o", str(tmp_path / "o.h5ad")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.h5ad"
    bad.write_text("not hdf5")
    assert main(["nmf", str(bad), "-o", str(tmp_path / "o.h5ad")]) == 2
    assert "could not read" in capsys.readouterr().err
    assert main(["nmf", str(h5ad_file), "-o", str(tmp_path / "o.h5ad"), "-k", "9999"]) == 2
    assert "n_components" in capsys.readouterr().err
    assert not (tmp_path / "o.h5ad").exists()


def test_demo_runs_on_bundled_data(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--fast"]) == 0
    text = capsys.readouterr().out
    assert "ARI" in text and "dominant program" in text
    adata = ad.read_h5ad(out / "demo.h5ad")
    assert adata.obsm["X_nmf"].shape == (700, 10)
    for name in ("nmf_loadings.png", "nmf_loss.png", "umap_nmf.png"):
        assert (out / name).stat().st_size > 1000
    # the NMF programs carry cell-type signal well above chance
    ari = float(text.split("NMF activities + KMeans")[1].split()[0])
    assert ari > 0.2
    assert np.isfinite(adata.uns["nmf"]["loss"]).all()


def test_cli_pnmf_and_deep(h5ad_file, tmp_path):
    out = tmp_path / "p.h5ad"
    figs = tmp_path / "pfigs"
    assert (
        main(
            [
                "pnmf",
                str(h5ad_file),
                "-o",
                str(out),
                "-k",
                "3",
                "--n-scales",
                "3",
                "--n-sweeps",
                "2",
                "--use-rep",
                "X",
                "--figures",
                str(figs),
            ]
        )
        == 0
    )
    result = ad.read_h5ad(out)
    assert result.obsm["X_pnmf_scales"].shape[:2] == (result.n_obs, 3)
    assert "persistence" in result.uns
    assert (figs / "barcode.png").is_file() and (figs / "pnmf_scale_path.png").is_file()

    out = tmp_path / "d.h5ad"
    assert (
        main(
            [
                "deep",
                str(h5ad_file),
                "-o",
                str(out),
                "--ranks",
                "4",
                "2",
                "--n-init-iter",
                "20",
                "--max-iter",
                "10",
                "--figures",
                str(figs),
            ]
        )
        == 0
    )
    result = ad.read_h5ad(out)
    assert result.obsm["X_deep_nmf_l2"].shape == (result.n_obs, 2)
    assert (figs / "deep_nmf_hierarchy.png").is_file()
    assert main(["deep", str(h5ad_file), "-o", str(tmp_path / "e.h5ad"), "--ranks", "2", "4"]) == 2
    assert not (tmp_path / "e.h5ad").exists()
