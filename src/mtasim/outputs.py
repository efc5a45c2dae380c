"""Where a command's files go: checked before any work starts, written into scratch folders next to
their destinations, and moved into place together at the end (all or nothing), and SIGTERM turned into
an interrupt so that scratch folders are removed on the way out.

A destination folder holds one command's files as a set: :class:`OutputSet` replaces the files that
command writes (``owned``) and removes those of them the new run does not write (a previous run's
``attempts.csv``), but never touches other files in the folder.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["OutputError", "OutputSet", "check_output_dir", "check_output_file", "Terminated", "install_sigterm",
           "hold_signals", "release_signals", "raise_if_stopped", "forget_signals",
           "worker_init", "end_pool", "worker_map", "progress_bar", "prepare_matplotlib", "RUN_FILES", "CURVE_FILES", "PARETO_FILES",
           "is_notice_file"]

SCRATCH_PREFIX = ".mtasim-"
#: Every file ``mtasim run --out`` may write: a new run replaces these as a set.
RUN_FILES = frozenset({"summary.json", "messages.csv", "outages.csv", "queue.csv", "attempts.csv",
                       "timeline.png", "qshape.txt"})
CURVE_FILES = frozenset({"curve.csv", "curve.json", "curve.png"})
PARETO_FILES = frozenset({"pareto.csv", "pareto.json", "pareto.png"})
_NOTICE = re.compile(r"\d{7,}-[a-z0-9-]+\.eml")
#: File systems that are not places for output files.
_PSEUDO = (Path("/proc"), Path("/sys"), Path("/dev"))


def is_notice_file(name: str) -> bool:
    """``0000042-failed.eml``: a notice ``run --dsn`` writes."""
    return _NOTICE.fullmatch(name) is not None


class OutputError(ValueError):
    """An output path that cannot be written; the text is the whole line shown."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every ``finally`` cleans up; the CLI exits 143."""


#: The SIGINT/SIGTERM received since :func:`install_sigterm`. Their exception can be lost: library code that
#: clears any error (NumPy does, in places) swallows one raised while it runs, and the run would go on to
#: write its files and exit 0; :func:`raise_if_stopped` raises it again where that matters.
_RECEIVED: list[int] = []


def install_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated` in the main thread (a no-op elsewhere), and have SIGTERM and
    Ctrl-C remembered for :func:`raise_if_stopped` (Ctrl-C only where it is not ignored)."""
    def handler(signum, frame):
        _RECEIVED.append(signum)
        raise Terminated()

    def interrupt(signum, frame):
        _RECEIVED.append(signum)
        raise KeyboardInterrupt()

    _RECEIVED.clear()
    try:
        signal.signal(signal.SIGTERM, handler)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, interrupt)
    except (ValueError, OSError):       # not the main thread, or no signals here
        pass


def raise_if_stopped() -> None:
    """Raise :class:`Terminated` (or KeyboardInterrupt) again if SIGTERM (or Ctrl-C) came and its exception
    was swallowed on the way: called before files are moved into place and before a command reports
    success."""
    if _RECEIVED:
        raise Terminated() if _RECEIVED[-1] == signal.SIGTERM else KeyboardInterrupt()


def forget_signals() -> None:
    """The command is over: a signal it received is not the next one's (in-process callers, tests)."""
    _RECEIVED.clear()


def worker_init(parent_pid: int, poll_s: float = 0.5) -> None:
    """Initializer of worker processes (sweep, tune): Ctrl-C and SIGTERM are the parent's to handle (it
    ends the workers), and a worker whose parent has died exits on its own within ``poll_s``."""
    import threading
    import time

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):
        pass

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="mtasim-parent-watch", daemon=True).start()


def prepare_matplotlib() -> None:
    """Point MPLCONFIGDIR at a temporary folder of our own when matplotlib's config or cache folder
    (under HOME, or MPLCONFIGDIR) cannot be written, instead of letting matplotlib warn on stderr or
    fail; called before matplotlib is imported."""
    import sys
    if not sys.platform.startswith(("linux", "freebsd")):
        return
    configured = os.environ.get("MPLCONFIGDIR")
    try:
        home = Path.home()
    except (RuntimeError, KeyError):
        home = None
    if configured:
        wanted = [Path(configured)]
    elif home is not None:
        wanted = [Path(os.environ.get(var) or home / sub) / "matplotlib"
                  for var, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache"))]
    else:
        wanted = []
    if wanted and all(_can_be_folder(p) for p in wanted):
        return
    try:
        folder = tempfile.mkdtemp(prefix="mtasim-matplotlib-")
    except OSError:
        raise OutputError("matplotlib needs a writable folder for its cache and neither "
                          f"{_show(wanted[0]) if wanted else 'HOME'} nor a temporary folder can be written; "
                          "set MPLCONFIGDIR to a writable folder") from None
    import atexit
    os.environ["MPLCONFIGDIR"] = folder
    atexit.register(shutil.rmtree, folder, True)


def _can_be_folder(path: Path) -> bool:
    """``path`` is a writable folder, or one can be made there."""
    try:
        absolute = Path(os.path.abspath(path))
        existing, _ = _nearest_existing(absolute)
    except OSError:
        return False
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


def end_pool(pool) -> None:
    """End a ProcessPoolExecutor's workers at once (they ignore Ctrl-C) and drop its queued tasks."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.terminate()
        except (OSError, AttributeError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)


@contextmanager
def worker_map(workers: int) -> Iterator[Callable]:
    """A ``map`` for independent jobs: the built-in one for one worker, else a process pool's (results in
    job order, so the answer does not depend on the worker count) whose workers are ended at once when
    the caller is interrupted or fails (see :func:`worker_init`)."""
    if workers <= 1:
        yield map
        return
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, initializer=worker_init, initargs=(os.getpid(),))
    try:
        yield pool.map
    except BaseException:
        end_pool(pool)          # interrupted or failed: end the workers now, not after their tasks
        raise
    pool.shutdown()


def progress_bar(total: int, *, unit: str, desc: str, enabled: bool | None = None, initial: int = 0):
    """A tqdm bar on stderr, or None when not ``enabled`` (None: only when stderr is a terminal)."""
    import sys
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, unit=unit, desc=desc, file=sys.stderr)


# -- checks ------------------------------------------------------------------------------------------
def _show(path: Path | str) -> str:
    return os.fspath(path).encode("unicode_escape").decode("ascii")


def _nearest_existing(path: Path) -> tuple[Path, list[str]]:
    """The deepest existing ancestor of ``path`` (itself included) and the names below it still to make."""
    missing: list[str] = []
    p = path
    while True:
        try:
            os.stat(p)
            return p, missing
        except FileNotFoundError:
            pass
        except NotADirectoryError:
            pass
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise
        if p.parent == p:
            return p, missing
        missing.insert(0, p.name)
        p = p.parent


def _check_not_empty(flag: str, path: str | Path) -> None:
    """An empty (or blank) path is refused: Path("") is the current folder, which nobody means by it."""
    if isinstance(path, str) and not path.strip():
        raise OutputError(f"{flag} {path!r}: expected a path, got an empty one")


def _check_common(flag: str, path: Path) -> None:
    text = os.fspath(path)
    if not text or "\0" in text:
        raise OutputError(f"{flag} {_show(path)}: expected a path")
    absolute = Path(os.path.abspath(path))
    resolved = Path(os.path.realpath(absolute))
    for pseudo in _PSEUDO:
        for p in (absolute, resolved):
            if p == pseudo or pseudo in p.parents:
                raise OutputError(f"{flag} {_show(path)}: is in {pseudo}, not a place for output files")
    try:
        name_max = os.pathconf(_nearest_existing(absolute)[0], "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    for part in absolute.parts:
        if len(os.fsencode(part)) > name_max:
            raise OutputError(f"{flag} {_show(path)}: a name in it is longer than the file system allows "
                              f"({len(os.fsencode(part))} > {name_max} bytes)")
    if len(os.fsencode(absolute)) >= 4096:
        raise OutputError(f"{flag} {_show(path)}: the path is longer than the file system allows")
    # every existing ancestor must be a folder
    existing, _ = _nearest_existing(absolute)
    if existing != absolute and not existing.is_dir():
        raise OutputError(f"{flag} {_show(path)}: {_show(existing)} is a file, not a directory")


def _check_writable_dir(flag: str, path: Path, folder: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {_show(path)}: {_show(folder)} is not writable")
    try:
        st = os.statvfs(folder)
        if st.f_flag & os.ST_RDONLY:
            raise OutputError(f"{flag} {_show(path)}: {_show(folder)} is on a read-only file system")
    except (OSError, AttributeError):
        pass


def check_output_dir(flag: str, path: str | Path) -> Path:
    """``path`` can be a folder of output files: it is one (writable), or can be made."""
    _check_not_empty(flag, path)
    path = Path(path)
    _check_common(flag, path)
    absolute = Path(os.path.abspath(path))
    if absolute.exists() and not absolute.is_dir():
        raise OutputError(f"{flag} {_show(path)}: exists and is not a directory")
    existing, _ = _nearest_existing(absolute)
    _check_writable_dir(flag, path, existing)
    return path


def check_output_file(flag: str, path: str | Path, *, make_parent: bool = False) -> Path:
    """``path`` can be an output file: not a folder, in a writable folder that exists (or, with
    ``make_parent``, can be made)."""
    _check_not_empty(flag, path)
    path = Path(path)
    _check_common(flag, path)
    absolute = Path(os.path.abspath(path))
    if absolute.is_dir():
        raise OutputError(f"{flag} {_show(path)}: is a directory; expected a file name")
    if absolute.exists() and not absolute.is_file():
        raise OutputError(f"{flag} {_show(path)}: exists and is not a regular file")
    existing, missing = _nearest_existing(absolute.parent)
    if missing and not make_parent:
        raise OutputError(f"{flag} {_show(path)}: no such directory {_show(absolute.parent)}")
    _check_writable_dir(flag, path, existing)
    return path


def same_path(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(os.path.abspath(a)) == os.path.realpath(os.path.abspath(b))


# -- the set of files --------------------------------------------------------------------------------
class _Target:
    def __init__(self, flag: str, dest: Path, kind: str, owned: Callable[[str], bool] | None):
        self.flag, self.dest, self.kind, self.owned = flag, dest, kind, owned
        self.scratch: Path | None = None
        self.made: list[Path] = []          # folders created on commit (removed again on a rollback)


class OutputSet:
    """The files of one command. Register each destination (:meth:`directory`, :meth:`file`) before
    the work starts: that makes a scratch folder next to it (the final check that it can be written);
    write into :meth:`path`; :meth:`commit` moves everything into place, :meth:`discard` (or leaving a
    ``with`` block by an exception) removes the scratch folders."""

    def __init__(self) -> None:
        self.targets: list[_Target] = []

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.discard()

    def _scratch(self, flag: str, dest: Path, shown: Path) -> Path:
        absolute = Path(os.path.abspath(dest))
        near, _ = _nearest_existing(absolute)
        if near == absolute and not absolute.is_dir():
            near = absolute.parent
        try:
            return Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=near))
        except OSError as exc:
            raise OutputError(f"{flag} {_show(shown)}: cannot write there: {exc.strerror or exc}") from None

    def directory(self, flag: str, dest: str | Path, owned: Iterable[str] | Callable[[str], bool]) -> Path:
        """A folder of output files; ``owned``: the names this command writes there (a set, or a test)."""
        dest = check_output_dir(flag, dest)
        test = owned if callable(owned) else frozenset(owned).__contains__
        t = _Target(flag, Path(dest), "dir", test)
        self._register(t, dest, dest)
        assert t.scratch is not None
        return t.scratch

    def file(self, flag: str, dest: str | Path, *, make_parent: bool = False) -> Path:
        """One output file; returns where to write it."""
        dest = check_output_file(flag, dest, make_parent=make_parent)
        t = _Target(flag, Path(dest), "file", None)
        self._register(t, Path(dest).parent, dest)
        assert t.scratch is not None
        return t.scratch / "file"

    def _register(self, t: _Target, near: Path, shown: Path) -> None:
        """Make ``t``'s scratch folder and list it, with SIGINT/SIGTERM held meanwhile: an interrupt between
        the two would leave a scratch folder that :meth:`discard` does not know about."""
        held = hold_signals()
        try:
            t.scratch = self._scratch(t.flag, near, shown)
            self.targets.append(t)
        finally:
            release_signals(held)

    def path(self, dest: str | Path) -> Path:
        """Where to write the files of destination ``dest`` (a folder's scratch folder, a file's scratch name)."""
        for t in self.targets:
            if t.dest == Path(dest) and t.scratch is not None:
                return t.scratch if t.kind == "dir" else t.scratch / "file"
        raise KeyError(dest)

    def commit(self) -> None:
        """Move every written file into place. Old files are first moved aside into the scratch folders,
        so a failure part way puts everything back as it was. Each destination folder is locked
        (``flock`` on the folder itself) meanwhile, so two commands writing to one folder at once leave
        one command's set, not a mix. SIGINT/SIGTERM wait until it is done."""
        raise_if_stopped()
        held = hold_signals()
        moves: list[tuple[Path, Path]] = []         # (from, to) done, to undo in reverse
        locks: list[int] = []
        current: _Target | None = None
        try:
            for t in self.targets:                  # the folders first, then lock them in one order
                current = t
                dest = Path(os.path.abspath(t.dest))
                base, missing = _nearest_existing(dest if t.kind == "dir" else dest.parent)
                for name in missing:
                    base = base / name
                    base.mkdir()
                    t.made.append(base)
            folders = {os.path.abspath(t.dest if t.kind == "dir" else t.dest.parent) for t in self.targets}
            for folder in sorted(folders):
                locks.append(_lock_folder(folder))
            for t in self.targets:
                current = t
                assert t.scratch is not None
                dest = Path(os.path.abspath(t.dest))
                if t.kind == "dir":
                    new = list(t.scratch.iterdir())
                    old = t.scratch / ".old"
                    old.mkdir()
                    for p in dest.iterdir():
                        if t.owned is not None and t.owned(p.name) and (p.is_file() or p.is_symlink()):
                            os.replace(p, old / p.name)
                            moves.append((p, old / p.name))
                    for p in new:
                        os.replace(p, dest / p.name)
                        moves.append((p, dest / p.name))
                else:
                    src = t.scratch / "file"
                    if dest.exists():
                        os.replace(dest, t.scratch / "old")
                        moves.append((dest, t.scratch / "old"))
                    os.replace(src, dest)
                    moves.append((src, dest))
        except BaseException as exc:
            for a, b in reversed(moves):
                try:
                    os.replace(b, a)
                except OSError:
                    pass
            for t in self.targets:
                for d in reversed(t.made):
                    try:
                        d.rmdir()
                    except OSError:
                        pass
            if isinstance(exc, OSError) and current is not None:
                raise OutputError(f"{current.flag} {_show(current.dest)}: cannot move the files into place: "
                                  f"{exc.strerror or exc}") from None
            raise
        finally:
            for fd in locks:
                if fd >= 0:
                    os.close(fd)
            self.discard()
            release_signals(held)

    def discard(self) -> None:
        """Remove the scratch folders; a second Ctrl-C waits until they are gone."""
        held = hold_signals()
        try:
            for t in self.targets:
                if t.scratch is not None:
                    shutil.rmtree(t.scratch, ignore_errors=True)
                    t.scratch = None
        finally:
            release_signals(held)


def _lock_folder(folder: str) -> int:
    """An exclusive ``flock`` on a folder (released when the returned descriptor is closed); -1 where
    folders cannot be locked."""
    try:
        import fcntl
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (ImportError, OSError):
        return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        pass
    return fd


def hold_signals() -> tuple[dict[int, Any], list[int]] | None:
    """Hold SIGINT and SIGTERM back (record them, act on none) until :func:`release_signals`: for steps that
    must not be cut in two (making and listing a scratch folder, moving files into place, removing scratch
    folders, starting a Dask cluster). Python-level handlers, not a signal mask: a mask set in this thread
    does not keep the signal from another thread (numpy's), whose handler interrupts this one all the
    same. None (holding nothing) outside the main thread."""
    held: list[int] = []
    try:
        previous = {s: signal.signal(s, lambda signum, frame: held.append(signum))
                    for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:                  # not the main thread: its signals are not ours to handle
        return None
    return previous, held


def release_signals(state: tuple[dict[int, Any], list[int]] | None) -> None:
    """Put the handlers back, then raise a signal held meanwhile as it would have been raised."""
    if state is None:
        return
    previous, held = state
    for s, handler in previous.items():
        signal.signal(s, signal.SIG_DFL if handler is None else handler)   # None: set outside Python
    if held:
        signal.raise_signal(held[0])
