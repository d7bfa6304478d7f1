"""A disk cache of decoded images and masks, so epochs after the first do not decode files again.

Each decoded array is stored as ``.npy`` under the cache folder, keyed on the file's absolute path,
size and modification time plus a tag saying how it was decoded (channel count, mask encoding).
Editing or replacing a file changes its key, so stale entries are never read. Writes are atomic,
so parallel workers that decode the same file at once do no harm.

The folder is ``$SEGWISE_CACHE`` if set, else ``~/.cache/segwise/decoded``. It can be deleted at
any time.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from segwise.io_utils import atomic_path

CACHE_FORMAT = 2  # bump when the decoded content of a given tag changes


def default_cache_dir() -> Path:
    """``$SEGWISE_CACHE`` if set, else ``~/.cache/segwise/decoded``."""
    env = os.environ.get("SEGWISE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "segwise" / "decoded"


class DecodeCache:
    """Decoded arrays on disk, keyed on (absolute path, size, mtime, tag).

    Args:
        root: Cache folder; ``None`` uses :func:`default_cache_dir`.
        enabled: ``False`` decodes every time (nothing is read or written).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.txt").write_text("x")
        >>> cache = DecodeCache(d / "cache")
        >>> calls = []
        >>> def decode(p):
        ...     calls.append(p)
        ...     return np.arange(3, dtype=np.uint8)
        >>> cache.load(d / "a.txt", "demo", decode).tolist(), cache.load(d / "a.txt", "demo", decode).tolist()
        ([0, 1, 2], [0, 1, 2])
        >>> len(calls)
        1
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, enabled: bool = True) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.enabled = enabled
        self._warned = False

    def __repr__(self) -> str:
        return f"DecodeCache({str(self.root)!r}, enabled={self.enabled})"

    def entry(self, path: str | os.PathLike[str], tag: str) -> Path:
        """The cache file for ``path`` decoded as ``tag`` (whether or not it exists yet)."""
        path = Path(path).resolve()
        st = path.stat()
        key = f"{CACHE_FORMAT}|{path}|{st.st_size}|{st.st_mtime_ns}|{tag}"
        digest = hashlib.sha1(key.encode("utf-8")).hexdigest()
        return self.root / digest[:2] / f"{digest}.npy"

    def load(
        self,
        path: str | os.PathLike[str],
        tag: str,
        decode: Callable[[Path], np.ndarray],
        *,
        mmap: bool = False,
    ) -> np.ndarray:
        """Return ``decode(path)``, from the cache when present; store it otherwise.

        Args:
            path: The source file.
            tag: How it is decoded (part of the key), e.g. ``"image:3"``.
            decode: Decodes the file; only called on a miss.
            mmap: Memory-map the cached array (read-only) instead of reading it whole, for large
                tiles of which only windows are needed.
        """
        path = Path(path)
        if not self.enabled:
            return decode(path)
        try:
            entry = self.entry(path, tag)
        except OSError:
            return decode(path)  # the source is missing: let decode raise its own clear error
        if entry.is_file():
            try:
                return np.load(entry, mmap_mode="r" if mmap else None, allow_pickle=False)
            except (OSError, ValueError, EOFError):
                pass  # a damaged entry (disk full, killed writer): decode again and overwrite it
        arr = decode(path)
        self._store(entry, arr)
        if mmap and entry.is_file():
            return np.load(entry, mmap_mode="r", allow_pickle=False)
        return arr

    def _store(self, entry: Path, arr: np.ndarray) -> None:
        try:
            with atomic_path(entry) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
        except OSError as exc:
            if not self._warned:
                warnings.warn(
                    f"cannot write the decode cache {self.root} ({exc.strerror or exc}); decoding every time. "
                    "Set SEGWISE_CACHE to a writable folder or pass cache=False.",
                    stacklevel=3,
                )
                self._warned = True
