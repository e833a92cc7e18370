"""Hostile memory-guard settings: unreadable limits name the variable and its format; sizes
read in sensible units; every fit is refused before any work, the AnnData unchanged."""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pytest

import scnmf as snmf
from scnmf._core import memory as M
from scnmf._core.memory import InsufficientMemoryError, format_bytes, parse_bytes


def _adata() -> ad.AnnData:
    rng = np.random.default_rng(0)
    X = rng.poisson(2.0, (40, 15)).astype(np.float32)
    X[:, 0] += 1
    return ad.AnnData(X)


def _keys(adata: ad.AnnData) -> tuple:
    return tuple(
        tuple(getattr(adata, slot).keys()) for slot in ("obsm", "varm", "uns", "layers")
    ) + (tuple(adata.obs.columns), tuple(adata.var.columns))


FITS = {
    "nmf": lambda a: snmf.tl.nmf(a, 3, max_iter=5),
    "gnmf": lambda a: snmf.tl.gnmf(a, 3, max_iter=5),
    "pnmf": lambda a: snmf.tl.pnmf(a, 3, n_sweeps=1),
    "deep_nmf": lambda a: snmf.tl.deep_nmf(a, (3, 2), n_init_iter=3, max_iter=2),
}


def _no_fit(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the fit started before the memory guard answered")

    for target in (
        "scnmf.tl._nmf.fit_nmf",
        "scnmf.tl._gnmf.fit_gnmf",
        "scnmf.tl._pnmf.fit_pnmf",
        "scnmf.tl._deep_nmf.fit_deep",
    ):
        monkeypatch.setattr(target, boom, raising=False)


def _refused(fit, error, *patterns):
    adata = _adata()
    before, X = _keys(adata), adata.X.copy()
    with pytest.raises(error) as info:
        fit(adata)
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    assert _keys(adata) == before
    np.testing.assert_array_equal(adata.X, X)
    return message


# ----------------------------------------------------------------------------------------
# Garbage SCNMF_MAX_MEMORY: the message names the variable and the accepted format
# ----------------------------------------------------------------------------------------
GARBAGE = {
    "word": "lots",
    "two-dots": "1.2.3",
    "negative": "-1G",
    "zero": "0",
    "below-one-byte": "0.5",
    "inf": "inf",
    "nan": "nan",
    "overflow": "1e400",
    "unknown-unit": "8X",
    "unit-only": "G",
    "two-numbers": "8 16G",
    "comma": "1,5G",
    "stray-I": "8IB",
}


@pytest.mark.parametrize("value", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_limit_names_the_variable_and_format(value, monkeypatch):
    _no_fit(monkeypatch)
    monkeypatch.setenv("SCNMF_MAX_MEMORY", value)
    message = _refused(
        FITS["nmf"],
        ValueError,
        rf"The environment variable SCNMF_MAX_MEMORY={re.escape(repr(value))} is not a memory",
        r"optional binary unit K, M, G or T",
        r"e\.g\. SCNMF_MAX_MEMORY=8G, 512M or 2e9, or unset it",
    )
    assert "could not convert" not in message


@pytest.mark.parametrize("fit", FITS.values(), ids=FITS.keys())
def test_every_fit_reports_a_garbage_limit_before_work(fit, monkeypatch):
    _no_fit(monkeypatch)
    monkeypatch.setenv("SCNMF_MAX_MEMORY", "plenty")
    _refused(fit, ValueError, r"SCNMF_MAX_MEMORY='plenty' is not a memory size", r"unset it")


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "blank"])
def test_empty_limit_means_unset(value, monkeypatch):
    monkeypatch.setenv("SCNMF_MAX_MEMORY", value)
    adata = _adata()
    snmf.tl.nmf(adata, 3, max_iter=5)
    assert adata.obsm["X_nmf"].shape == (40, 3)
    assert M.memory_limit()[1] == "available on this machine"


READABLE = {
    "plain": ("1000", 1000),
    "K": ("10K", 10 * 2**10),
    "lower-case": ("512m", 512 * 2**20),
    "GiB": ("8GiB", 8 * 2**30),
    "GB-with-space": ("8 GB", 8 * 2**30),
    "fraction": ("1.5T", int(1.5 * 2**40)),
    "leading-dot": (".5G", 2**29),
    "scientific": ("2e9", 2 * 10**9),
    "padded": ("  4G \n", 4 * 2**30),
}


@pytest.mark.parametrize("text,expected", READABLE.values(), ids=READABLE.keys())
def test_readable_sizes(text, expected):
    assert parse_bytes(text) == expected


def test_parse_bytes_error_says_the_format():
    with pytest.raises(ValueError, match=r"memory size from 'lots'; use a positive number"):
        parse_bytes("lots")


# ----------------------------------------------------------------------------------------
# Sizes in sensible units
# ----------------------------------------------------------------------------------------
UNITS = {
    "zero": (0, "0 B"),
    "bytes": (512, "512 B"),
    "KiB": (1024, "1.0 KiB"),
    "KiB-fraction": (10 * 1024 + 512, "10.5 KiB"),
    "MiB": (3 * 2**20, "3.0 MiB"),
    "GiB": (int(1.5 * 2**30), "1.5 GiB"),
    "TiB": (2 * 2**40, "2.0 TiB"),
    "PiB-as-TiB": (2**50, "1024.0 TiB"),
}


@pytest.mark.parametrize("size,text", UNITS.values(), ids=UNITS.keys())
def test_format_bytes(size, text):
    assert format_bytes(size) == text


def test_small_sizes_never_read_as_zero_gib(monkeypatch):
    _no_fit(monkeypatch)
    monkeypatch.setenv("SCNMF_MAX_MEMORY", "1K")
    message = _refused(
        FITS["nmf"],
        InsufficientMemoryError,
        r"NMF of 40 × 15 with k = 3 needs about \d+\.\d KiB but only 1\.0 KiB is allowed by "
        r"SCNMF_MAX_MEMORY='1K'",
        r"fewer components",
        r"raise SCNMF_MAX_MEMORY \(e\.g\. SCNMF_MAX_MEMORY=1GiB\) or unset it",
    )
    assert "0.0 GiB" not in message


def test_close_sizes_read_differently(monkeypatch):
    monkeypatch.setenv("SCNMF_MAX_MEMORY", "10240")
    with pytest.raises(InsufficientMemoryError) as info:
        M.check_memory(10241, "NMF", "use fewer components.")
    message = str(info.value)
    need, have = re.search(r"needs about (.+?) but only (.+?) is allowed", message).groups()
    assert (need, have) == ("10.001 KiB", "10.000 KiB")


def test_machine_limit_is_named_as_such(monkeypatch):
    monkeypatch.delenv("SCNMF_MAX_MEMORY", raising=False)
    monkeypatch.setattr(M, "memory_limit", lambda: (2048, "available on this machine"))
    with pytest.raises(InsufficientMemoryError) as info:
        M.check_memory(3 * 2**20, "NMF of 1 × 1 with k = 1", "use fewer components.")
    assert str(info.value) == (
        "NMF of 1 × 1 with k = 1 needs about 3.0 MiB but only 2.0 KiB is available on this "
        "machine; use fewer components."
    )


def test_lazy_driver_share_in_readable_units():
    da = pytest.importorskip("dask.array")
    huge = ad.AnnData(da.zeros((5 * 10**6, 2000), chunks=(10**6, 2000), dtype=np.float32))
    with pytest.raises(InsufficientMemoryError) as info:
        snmf.tl.nmf(huge, 1000)
    assert re.search(r"the cell factor alone is 18\.6 GiB on the driver", str(info.value))
    assert len(huge.obsm) == 0
