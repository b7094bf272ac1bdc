"""Small file-system helpers: write a file or a whole directory so that a failure never leaves half of it."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` to a temp file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_replaceable(target: Path, markers: Iterable[str]) -> None:
    """Refuse (``FileExistsError``) to replace ``target`` unless it is absent, an empty folder, or a folder holding
    one of the ``markers`` (files that only formwhy writes)."""
    if not target.exists():
        return
    if not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a folder")
    if any(target.iterdir()) and not any((target / m).exists() for m in markers):
        raise FileExistsError(f"refusing to replace {target}: it is not empty and holds none of "
                              f"{', '.join(markers)}")


@contextmanager
def atomic_dir(target: Path | str, markers: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a fresh temp folder beside ``target``; when the block succeeds it replaces ``target`` (an earlier folder
    is removed only then), when it fails the temp folder is removed and ``target`` is left as it was."""
    target = Path(target)
    markers = tuple(markers)
    check_replaceable(target, markers)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; give it the usual permissions
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
