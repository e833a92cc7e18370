"""Writing results to disk: output checks made before any work, and an atomic ``.h5ad`` writer.

Used by the CLI and the demo. :func:`check_output_file` and :func:`check_output_folder` find
every problem with an output location (a folder where a file should be, a file where a
folder should be, a folder that cannot be written) before the fit, with a message naming the
problem and the fix. :func:`write_h5ad_atomic` writes next to the target and renames into
place, so an interrupted write (an exception, Ctrl-C, SIGTERM, SIGHUP) leaves no file, whole
or partial, and the result gets the user's umask mode like any new file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # anndata is imported by the caller; the CLI starts without it
    from anndata import AnnData

#: Signals whose default action kills the process without running ``finally`` blocks.
_TERMINATING = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _reason(err: OSError) -> str:
    """An OS error in words, without the raw ``[Errno n]`` prefix."""
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno == errno.EROFS:
        return "read-only file system"
    return (err.strerror or str(err)).lower()


def _existing_ancestor(folder: Path) -> Path:
    """The nearest folder or file on the way up from ``folder`` that exists."""
    current = folder
    while not os.path.lexists(current) and current != current.parent:
        current = current.parent
    return current


def _check_folder_usable(folder: Path, what: str) -> None:
    """``folder`` exists and is writable, or can be created; else ``ValueError``."""
    ancestor = _existing_ancestor(folder.absolute())
    if not ancestor.is_dir():
        raise ValueError(
            f"cannot create the {what} folder {folder}: {ancestor} is a file, not a folder; "
            "choose another location or move that file away."
        )
    probe = ancestor / f".scnmf-probe-{secrets.token_hex(4)}"
    try:  # a real probe: os.access misses read-only mounts, ACLs and root's override
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as err:
        raise ValueError(
            f"cannot write the {what} into {ancestor}: {_reason(err)}; choose a folder you "
            "can write to."
        ) from None
    with contextlib.suppress(OSError):
        os.remove(probe)


def check_output_file(path: str | os.PathLike, force: bool, what: str = "output") -> Path:
    """Refuse an output file that could not be written, before any work is done.

    Parameters
    ----------
    path
        The target file; missing folders above it are fine (they are created on writing).
    force
        Whether an existing file may be replaced.
    what
        The name of the output in messages.

    Returns
    -------
    The target as a :class:`~pathlib.Path`.

    Raises
    ------
    FileExistsError
        The file exists and ``force`` is false.
    ValueError
        ``path`` names a folder, or its folder cannot be created or written.
    """
    text = os.fspath(path)
    if not text.strip():
        raise ValueError(f"the {what} path is empty; give the path of an .h5ad file.")
    target = Path(text)
    if text.endswith(("/", os.sep)) or target.is_dir():
        raise ValueError(
            f"the {what} {text} is a folder, not a file; give the path of an .h5ad file, "
            f"e.g. {target / 'result.h5ad'}."
        )
    if os.path.lexists(target) and not force:
        raise FileExistsError(f"{target} exists; pass --force to overwrite it.")
    _check_folder_usable(target.parent, what)
    return target


def check_output_folder(path: str | os.PathLike, what: str = "figures") -> Path:
    """Refuse an output folder that is a file or cannot be created or written.

    Raises
    ------
    ValueError
        The problem and the fix.
    """
    folder = Path(path)
    if os.path.lexists(folder) and not folder.is_dir():
        raise ValueError(
            f"the {what} folder {folder} is a file, not a folder; give a folder name (it is "
            "created when missing)."
        )
    _check_folder_usable(folder, what)
    return folder


class _Terminated(BaseException):
    """A terminating signal arrived (raised so that the writer's cleanup runs)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_clean_up():
    """Turn SIGTERM/SIGHUP (and Ctrl-C) into exceptions while the body runs.

    A terminating signal with its default action ends the process without running any
    ``finally``; here it raises instead, and once the cleanup has run the process ends by
    the same signal, as it would have. Later signals during the cleanup are held back.
    Signals the user handles or ignores are left alone; outside the main thread (where
    Python cannot set handlers) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum, frame):
        nonlocal raised
        if raised:  # one is enough: let the cleanup finish
            return
        raised = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise _Terminated(signum)

    previous = {}
    for sig in _TERMINATING:
        if signal.getsignal(sig) is signal.SIG_DFL:
            previous[sig] = signal.signal(sig, handler)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, handler)
    try:
        yield
    except _Terminated as stop:
        for sig, old in previous.items():
            signal.signal(sig, old)
        previous = {}
        os.kill(os.getpid(), stop.signum)  # the default action: end by the same signal
        raise SystemExit(128 + stop.signum) from None
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _new_part_file(path: Path) -> Path:
    """An empty, new file next to ``path``, created with the umask's mode (not 0600)."""
    while True:
        part = path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")
        try:
            os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return part
        except FileExistsError:
            continue


def write_h5ad_atomic(adata: AnnData, path: str | os.PathLike, force: bool) -> None:
    """Write ``adata`` to ``path`` so that no half-written file is ever left there.

    The file is written next to ``path`` under a temporary name (``<name>.<random>.part``)
    and renamed into place (``os.replace`` is atomic on one file system). An exception,
    Ctrl-C, SIGTERM or SIGHUP during the write removes the temporary file; an existing
    ``path`` is then untouched. The new file has the mode of any file the user creates
    (``0666`` less the umask).

    Parameters
    ----------
    adata
        What to write.
    path
        Target ``.h5ad`` file; its folder is created when missing.
    force
        Overwrite an existing file (else ``FileExistsError``).
    """
    path = check_output_file(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _signals_clean_up():
        part = None
        try:
            part = _new_part_file(path)
            adata.write_h5ad(part)
            os.replace(part, path)
            part = None
        finally:
            if part is not None:
                with contextlib.suppress(OSError):
                    os.remove(part)
