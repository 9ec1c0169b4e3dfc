"""Where llmcli keeps its files, and how it creates them: folders 0700 and files 0600 from the moment
they exist, whole files replaced atomically. Standard library only (platformdirs when LLMCLI_HOME is unset).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..errors import LlmcliError, OutputError, UsageError


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def history_db(self) -> Path:
        return self.data_dir / "history.db"

    @property
    def cache_db(self) -> Path:
        """The response cache (docs/cache.md)."""
        return self.data_dir / "cache.db"

    @property
    def models_cache(self) -> Path:
        """The servers' model lists, for shell completion (cli/completion.py)."""
        return self.data_dir / "models-cache.json"


def paths(env: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if env is None else env
    home = env.get("LLMCLI_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(root, root)
    import platformdirs  # small, but only needed when LLMCLI_HOME is not set

    return Paths(Path(platformdirs.user_config_dir("llmcli")), Path(platformdirs.user_data_dir("llmcli")))


def ensure_private_dir(path: Path) -> Path:
    """Create a folder, and any missing parent, 0700 from the start (never create-then-chmod).

    Path.mkdir(parents=True) would create the parents with the umask's mode (0777 under umask 000).
    """
    missing = []
    here = path
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
    return path


def atomic_write(path: Path, text: str) -> None:
    """Write via a 0600 temp file in the same folder, fsync, then os.replace: never a torn file."""
    ensure_private_dir(path.parent)
    with AtomicOutput(path, force=True) as fh:
        fh.write(text.encode("utf-8"))


# --- output files: whole or absent, never over an existing file without --force ---------------------
#
# A download (or any rewrite) goes to a 0600 temp file in the destination's folder; `commit()` flushes,
# fsyncs and moves it into place. Without `force` the move is a hard link, which fails when the name
# exists, so a file that appeared meanwhile is not clobbered either.


def exists_error(path: Path) -> UsageError:
    return UsageError(
        f"{path} already exists; not overwriting it",
        hint="add --force to replace it, or choose another name",
    )


def refuse_existing(path: Path, *, force: bool) -> None:
    """Fail early, before any download starts, when `path` exists and --force was not given."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder", hint="give a file name")
    if not force and os.path.lexists(path):
        raise exists_error(path)


def _write_error(path: Path, exc: OSError) -> OutputError:
    return OutputError(
        f"cannot write {path}: {exc.strerror or exc}", hint="check the folder's permissions and free space"
    )


class AtomicOutput:
    """`with AtomicOutput(path, force=...) as out: out.write(...)`; committed when the block ends cleanly.

    Leaving the block with an exception (Ctrl-C included) removes the temp file and leaves `path` as it was.
    """

    def __init__(self, path: Path | str, *, force: bool = False):
        self.path = Path(path)
        self.force = force
        self._tmp: str | None = None
        self._fh: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        refuse_existing(self.path, force=self.force)
        folder = self.path.parent if str(self.path.parent) else Path(".")
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=folder)
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        self._fh = os.fdopen(fd, "wb")
        return self._fh

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            try:
                self.commit()
                return
            except BaseException:
                self._discard()
                raise
        self._discard()

    def commit(self) -> None:
        assert self._fh is not None and self._tmp is not None
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            if self.force:
                os.replace(self._tmp, self.path)
            else:
                _link_new(self._tmp, self.path)
                if os.path.lexists(self._tmp):
                    os.unlink(self._tmp)
        except LlmcliError:
            raise
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        self._tmp = None
        _sync_folder(self.path.parent)

    def _discard(self) -> None:
        if self._fh is not None and not self._fh.closed:
            try:
                self._fh.close()
            except OSError:
                pass
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except OSError:
                pass
            self._tmp = None


def _link_new(tmp: str, path: Path) -> None:
    """Give the temp file its final name only if that name is free (atomically, where links exist)."""
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise exists_error(path) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
    # A file system without hard links: claim the name exclusively, then replace the empty claim.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise exists_error(path) from None
    os.replace(tmp, path)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
