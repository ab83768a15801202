"""Private folders and generated secrets on disk: 0700 folders owned by us, 0600 files.

Used for what must not be readable by other users of the machine: the embedded Postgres
passwords and the Webull token folder.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


class PrivatePathError(RuntimeError):
    """A path meant to be private is not: someone else owns it, or others may read it."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _check_private(path: Path, kind: int) -> None:
    st = path.lstat()  # lstat: a symlink planted in our place is refused, not followed
    if stat.S_IFMT(st.st_mode) != kind:
        raise PrivatePathError(path, "not a plain " + ("folder" if kind == stat.S_IFDIR else "file"))
    if st.st_uid != os.geteuid():
        raise PrivatePathError(path, f"owned by uid {st.st_uid}, not by this user ({os.geteuid()})")
    if st.st_mode & 0o077:
        raise PrivatePathError(path, f"mode {stat.S_IMODE(st.st_mode):o} lets other users in (want 0700/0600)")


def private_dir(path: Path | str) -> Path:
    """``path`` as a folder only this user can enter: created 0700 when missing (its parents as
    usual); an existing one that someone else owns, or that group/others may use, is refused
    rather than fixed, since its contents may already have been exposed or planted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
        path.chmod(0o700)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        pass
    _check_private(path, stat.S_IFDIR)
    return path


def secret_file(path: Path | str, *, nbytes: int = 32) -> tuple[str, bool]:
    """The secret kept in ``path`` (0600), generated with ``secrets`` when the file does not
    exist yet; and whether it was generated now. The file is created exclusively, so two
    starters never end up with different secrets."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        _check_private(path, stat.S_IFREG)
        value = path.read_text().strip()
        if value:
            return value, False
        # An empty file is a start that died between create and write: generate again.
        path.unlink()
        return secret_file(path, nbytes=nbytes)
    value = secrets.token_urlsafe(nbytes)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value, True
