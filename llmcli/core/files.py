"""Where llmcli keeps its files, and how it creates them: folders 0700 and files 0600 from the moment
they exist, whole files replaced atomically. Standard library only (platformdirs when LLMCLI_HOME is unset).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


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
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)  # mkstemp opens 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
