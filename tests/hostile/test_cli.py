"""Hostile CLI cases: output locations, inputs, the memory guard, file modes and signals.

Every location problem must be found before the fit (the fit functions are replaced by
ones that fail the test if called), reported as one line naming the problem and the fix,
with exit status 2, no traceback, no raw errno text and no file left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

import scnmf
from scnmf.cli import main

REPO = Path(__file__).resolve().parents[2]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
COMMANDS = {
    "nmf": ["-k", "2", "--max-iter", "2"],
    "pnmf": ["-k", "2", "--n-scales", "2", "--n-sweeps", "1", "--use-rep", "X"],
    "deep": ["--ranks", "3", "2", "--n-init-iter", "3", "--max-iter", "2"],
}


@pytest.fixture
def h5ad_file(adata, tmp_path):
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.fixture
def no_fit(monkeypatch):
    """Fail the test if any fit starts (the problem must be found before it)."""

    def fit_ran(*args, **kwargs):
        raise AssertionError("the fit ran before the problem was reported")

    for name in ("nmf", "pnmf", "persistence", "deep_nmf"):
        monkeypatch.setattr(scnmf.tl, name, fit_ran)


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _assert_clean_error(code: int, err: str, command: str, *phrases: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"scnmf {command}: error: ")
    assert "Traceback" not in err and "Errno" not in err
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


def _no_files_left(folder: Path, *keep: Path) -> None:
    left = {p for p in folder.rglob("*") if p.is_file()} - {Path(k) for k in keep}
    assert not {p for p in left if p.name.endswith(".part") or p.suffix == ".h5ad"}, left


# --- output locations, found before the fit ------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_output_is_a_directory(command, h5ad_file, tmp_path, capsys, no_fit):
    target = tmp_path / "a_folder"
    target.mkdir()
    code, err = _run(capsys, command, h5ad_file, "-o", target, *COMMANDS[command])
    _assert_clean_error(code, err, command, "is a folder, not a file", "give the path of")
    assert list(target.iterdir()) == []


def test_output_directory_refused_even_with_force(h5ad_file, tmp_path, capsys, no_fit):
    target = tmp_path / "a_folder"
    target.mkdir()
    code, err = _run(capsys, "nmf", h5ad_file, "-o", target, "--force")
    _assert_clean_error(code, err, "nmf", "is a folder", "result.h5ad")
    assert target.is_dir()


def test_output_with_trailing_separator(h5ad_file, tmp_path, capsys, no_fit):
    code, err = _run(capsys, "nmf", h5ad_file, "-o", f"{tmp_path / 'new'}{os.sep}")
    _assert_clean_error(code, err, "nmf", "is a folder, not a file", "give the path of")
    assert not (tmp_path / "new").exists()


def test_output_empty_string(h5ad_file, capsys, no_fit):
    code, err = _run(capsys, "nmf", h5ad_file, "-o", "")
    _assert_clean_error(code, err, "nmf", "path is empty", "give the path of")


@pytest.mark.parametrize("below", ["x.h5ad", "sub/deeper/x.h5ad"])
def test_output_below_a_file(below, h5ad_file, tmp_path, capsys, no_fit):
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"keep")
    code, err = _run(capsys, "nmf", h5ad_file, "-o", blocker / below)
    _assert_clean_error(code, err, "nmf", "is a file, not a folder", "choose another location")
    assert blocker.read_bytes() == b"keep"


def test_output_exists_without_force(h5ad_file, tmp_path, capsys, no_fit):
    target = tmp_path / "out.h5ad"
    target.write_bytes(b"keep me")
    code, err = _run(capsys, "deep", h5ad_file, "-o", target, *COMMANDS["deep"])
    _assert_clean_error(code, err, "deep", "exists", "--force")
    assert target.read_bytes() == b"keep me"


@pytest.mark.parametrize("below", ["", "sub"])
def test_figures_is_or_is_below_a_file(below, h5ad_file, tmp_path, capsys, no_fit):
    blocker = tmp_path / "figs"
    blocker.write_bytes(b"keep")
    figures = blocker / below if below else blocker
    code, err = _run(capsys, "nmf", h5ad_file, "-o", tmp_path / "o.h5ad", "--figures", figures)
    phrase = "is a file, not a folder"
    _assert_clean_error(code, err, "nmf", "--figures", phrase)
    assert blocker.read_bytes() == b"keep"
    assert not (tmp_path / "o.h5ad").exists()


def test_demo_out_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "demo"
    blocker.write_bytes(b"keep")
    code, err = _run(capsys, "demo", "--out", blocker, "--fast")
    _assert_clean_error(code, err, "demo", "is a file, not a folder", "give a folder name")
    assert blocker.read_bytes() == b"keep"


# --- read-only locations (root ignores permission bits: drop that capability) -------------

NO_DAC = [
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
]


def _cli_as_unprivileged(folder: Path, *argv) -> tuple[int, str]:
    """The CLI in a process that file permissions apply to (as root: without DAC override)."""
    prefix = []
    if IS_ROOT:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permission bits cannot apply")
        prefix = ["setpriv", *NO_DAC]
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "scnmf.cli", *map(str, argv)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("option", ["-o", "--figures"])
def test_read_only_folder(option, h5ad_file, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if option == "-o":
        argv = ["nmf", h5ad_file, "-o", "locked/out.h5ad", "-k", "2"]
        where = "output (-o)"
    else:
        argv = ["nmf", h5ad_file, "-o", "out.h5ad", "-k", "2", "--figures", "locked/figs"]
        where = "--figures"
    try:
        code, err = _cli_as_unprivileged(tmp_path, *argv)
    finally:
        locked.chmod(0o755)
    _assert_clean_error(code, err, "nmf", where, "permission denied", "choose a folder you can")
    assert list(locked.iterdir()) == []
    assert not (tmp_path / "out.h5ad").exists()


def test_unreadable_input(h5ad_file, tmp_path):
    h5ad_file.chmod(0o000)
    code, err = _cli_as_unprivileged(tmp_path, "nmf", h5ad_file, "-o", "out.h5ad")
    _assert_clean_error(code, err, "nmf", "cannot read the input", "permission denied")
    assert not (tmp_path / "out.h5ad").exists()


# --- inputs ----------------------------------------------------------------------------------


def test_input_is_a_directory(tmp_path, capsys, no_fit):
    folder = tmp_path / "data.h5ad"
    folder.mkdir()
    code, err = _run(capsys, "nmf", folder, "-o", tmp_path / "o.h5ad")
    _assert_clean_error(code, err, "nmf", "is a folder, not a file", "give the path of an .h5ad")
    assert "does not exist" not in err


@pytest.mark.parametrize(
    ("content", "phrase"),
    [(None, "does not exist"), (b"", "could not read"), (b"not hdf5 at all", "could not read")],
    ids=["missing", "empty", "text"],
)
def test_bad_input_file(content, phrase, tmp_path, capsys, no_fit):
    path = tmp_path / "in.h5ad"
    if content is not None:
        path.write_bytes(content)
    code, err = _run(capsys, "nmf", path, "-o", tmp_path / "o.h5ad")
    assert code == 2 and phrase in err and "Traceback" not in err
    assert not (tmp_path / "o.h5ad").exists()


# --- the memory guard -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["nmf", "deep"])
def test_memory_guard_is_a_message(command, h5ad_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCNMF_MAX_MEMORY", "1K")
    out = tmp_path / "o.h5ad"
    code, err = _run(capsys, command, h5ad_file, "-o", out, *COMMANDS[command])
    _assert_clean_error(code, err, command, "needs about", "SCNMF_MAX_MEMORY")
    assert not out.exists()
    _no_files_left(tmp_path, h5ad_file)


# --- file modes -------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_output_gets_the_umask_mode(umask, h5ad_file, tmp_path, capsys):
    out = tmp_path / "out.h5ad"
    old = os.umask(umask)
    try:
        code, _ = _run(capsys, "nmf", h5ad_file, "-o", out, *COMMANDS["nmf"])
    finally:
        os.umask(old)
    assert code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    _no_files_left(tmp_path, h5ad_file, out)


def test_force_replaces_a_private_file_with_the_umask_mode(h5ad_file, tmp_path, capsys):
    out = tmp_path / "out.h5ad"
    out.write_bytes(b"old")
    out.chmod(0o600)
    old = os.umask(0o022)
    try:
        code, _ = _run(capsys, "nmf", h5ad_file, "-o", out, "--force", *COMMANDS["nmf"])
    finally:
        os.umask(old)
    assert code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert ad.read_h5ad(out).obsm["X_nmf"].shape[1] == 2


def test_write_error_is_a_message_and_leaves_nothing(h5ad_file, tmp_path, capsys, monkeypatch):
    def disk_full(self, filename, **kwargs):
        Path(filename).write_bytes(b"\0" * 1000)
        raise OSError(28, "No space left on device", str(filename))

    monkeypatch.setattr(ad.AnnData, "write_h5ad", disk_full)
    out = tmp_path / "o.h5ad"
    code, err = _run(capsys, "nmf", h5ad_file, "-o", out, *COMMANDS["nmf"])
    lines = err.strip().splitlines()
    assert code == 2 and lines[-1].startswith("scnmf nmf: error: no space left on device")
    assert lines[-1].endswith(".part).") and "Errno" not in err
    assert not out.exists()
    _no_files_left(tmp_path, h5ad_file)


# --- signals during the write -----------------------------------------------------------------

SLOW_WRITE = """
import sys, time
import anndata as ad

def slow_write(self, filename, **kwargs):
    with open(filename, "wb") as fh:
        fh.write(b"\\0" * 8_000_000)  # a full-size part file
    print("writing", flush=True)
    time.sleep(20)

ad.AnnData.write_h5ad = slow_write
"""

WRITER = (
    SLOW_WRITE
    + """
import numpy as np
from scnmf._io import write_h5ad_atomic
try:
    write_h5ad_atomic(ad.AnnData(np.ones((3, 2))), sys.argv[1], force=True)
except KeyboardInterrupt:
    sys.exit(130)
"""
)

CLI = (
    SLOW_WRITE
    + """
from scnmf.cli import main
sys.exit(main(["nmf", sys.argv[2], "-o", sys.argv[1], "-k", "2", "--max-iter", "2"]))
"""
)


def _signal_during_write(script: str, target: Path, sig: int, *extra) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), str(target), *map(str, extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while proc.stdout.readline().strip() != "writing":
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        parts = list(target.parent.glob(f"{target.name}.*.part"))
        assert len(parts) == 1 and parts[0].stat().st_size == 8_000_000
        proc.send_signal(sig)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, proc.stderr.read()


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGHUP, -signal.SIGHUP), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_signal_during_write_leaves_no_part_file(sig, code, tmp_path):
    target = tmp_path / "out.h5ad"
    returncode, _ = _signal_during_write(WRITER, target, sig)
    assert returncode == code
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_forced_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.h5ad"
    target.write_bytes(b"the previous result")
    returncode, _ = _signal_during_write(WRITER, target, signal.SIGTERM)
    assert returncode == -signal.SIGTERM
    assert list(tmp_path.iterdir()) == [target]
    assert target.read_bytes() == b"the previous result"


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)], ids=["TERM", "INT"]
)
def test_cli_signal_during_write(sig, code, h5ad_file, tmp_path):
    target = tmp_path / "results" / "out.h5ad"
    returncode, err = _signal_during_write(CLI, target, sig, h5ad_file)
    assert returncode == code
    assert list(target.parent.iterdir()) == []
    if sig == signal.SIGINT:
        assert err.strip().splitlines()[-1] == "scnmf nmf: interrupted; no output was written."
        assert "Traceback" not in err


def test_writer_from_a_worker_thread(tmp_path):
    import threading

    from scnmf._io import write_h5ad_atomic

    errors = []
    target = tmp_path / "t.h5ad"

    def work():
        try:
            write_h5ad_atomic(ad.AnnData(np.ones((4, 3))), target, force=False)
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    np.testing.assert_array_equal(ad.read_h5ad(target).X, np.ones((4, 3)))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert list(tmp_path.iterdir()) == [target]
