"""The course's corpora: a registry, and a loader that downloads, verifies and caches them.

Every file has a pinned URL (a raw file at a fixed git commit) and a sha256. `path(name)` returns
the local copy, fetching it first if needed: the bytes go to a temporary file beside the cache
entry, are checked against the hash, and only then renamed into place, so an interrupted or
corrupted download never leaves a file that looks valid. A cached file whose hash no longer
matches is fetched again.

Machines without internet read the same relative paths from a mirror: set ``COURSE_DATA_MIRROR``
to a folder (e.g. ``../shared/data``) or to a URL prefix (``https://...``, ``file://...``).
The cache lives in ``data/cache/`` of the course checkout (git-ignored), or in
``~/.cache/lstm-course`` when the package is installed elsewhere; ``COURSE_DATA_CACHE`` overrides.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MIRROR_ENV = "COURSE_DATA_MIRROR"
CACHE_ENV = "COURSE_DATA_CACHE"
REGISTRY_FILE = Path(__file__).with_name("datasets.json")
TIMEOUT_S = 60


class DataError(RuntimeError):
    """Base class for the loader's errors."""


class DataUnavailableError(DataError):
    """The file could not be read from its URL or mirror (offline, wrong mirror, missing file)."""


class DataIntegrityError(DataError):
    """The bytes that arrived do not have the registered sha256."""


@dataclass(frozen=True)
class DataFile:
    path: str  # relative path, the same in the cache, in a mirror and in the manifest
    bytes: int
    sha256: str
    url: str


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    description: str
    license: str
    upstream: str
    files: tuple[DataFile, ...]

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)


def load_registry(registry_file: Path | str = REGISTRY_FILE) -> dict[str, Dataset]:
    """Read a manifest (the format of ``shared/data/manifest.json``) into `Dataset` records."""
    manifest = json.loads(Path(registry_file).read_text(encoding="utf-8"))
    registry = {}
    for entry in manifest["datasets"]:
        files = tuple(DataFile(**f) for f in entry["files"])
        fields = {k: entry[k] for k in ("name", "title", "description", "license", "upstream")}
        registry[entry["name"]] = Dataset(**fields, files=files)
    return registry


REGISTRY = load_registry()


def names() -> list[str]:
    """The registered dataset names, in registry order."""
    return list(REGISTRY)


def info(name: str) -> Dataset:
    """The registry record of one dataset (title, license, files with URL, size and sha256)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"No dataset named {name!r}; registered: {', '.join(REGISTRY)}."
        ) from None


def cache_dir() -> Path:
    """Where downloads live: $COURSE_DATA_CACHE, else the checkout's data/cache, else ~/.cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout / "data" / "cache"
    return Path.home() / ".cache" / "lstm-course"


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _source(file: DataFile) -> str:
    """The URL or local path to read a file from: the mirror when one is set, else its own URL."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return file.url
    if urllib.parse.urlparse(mirror).scheme in ("http", "https", "file"):
        return mirror.rstrip("/") + "/" + file.path
    return str(Path(mirror).expanduser() / file.path)


def _offline_hint(file: DataFile) -> str:
    return (
        f"If this machine has no internet, put the course data in a folder that holds "
        f"{file.path} (and the other registered files under the same relative paths) and point "
        f"the loader at it: `export {MIRROR_ENV}=/path/to/that/folder` before starting Jupyter, "
        f"or `os.environ['{MIRROR_ENV}'] = '/path/to/that/folder'` in the notebook. A URL prefix "
        f"(https://... or file://...) works too."
    )


def _copy_from(source: str, out) -> None:
    """Stream ``source`` (URL or local path) into the open binary file ``out``."""
    if urllib.parse.urlparse(source).scheme in ("http", "https", "file"):
        with urllib.request.urlopen(source, timeout=TIMEOUT_S) as response:
            shutil.copyfileobj(response, out)
    else:
        with open(source, "rb") as f:
            shutil.copyfileobj(f, out)


CACHED_FILE_MODE = 0o644


def _fetch(file: DataFile, target: Path) -> None:
    source = _source(file)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                _copy_from(source, out)
            except (urllib.error.URLError, OSError) as err:
                reason = getattr(err, "reason", None) or err
                raise DataUnavailableError(
                    f"Could not read {file.path} from {source}: {reason}. {_offline_hint(file)}"
                ) from err
        got = sha256_of(tmp)
        if got != file.sha256:
            raise DataIntegrityError(
                f"{file.path} from {source} has sha256 {got} ({tmp.stat().st_size:,} bytes) but "
                f"the registry expects {file.sha256} ({file.bytes:,} bytes). The download was "
                f"corrupted or the source changed; nothing was kept in the cache. Try again, or "
                f"check the mirror set in ${MIRROR_ENV}."
            )
        os.chmod(tmp, CACHED_FILE_MODE)  # mkstemp makes it 0600; a cache is readable by all
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def path(name: str, file: str | None = None) -> Path:
    """Local path of a dataset's file (its only file unless ``file`` names one), verified.

    Fetches it from the mirror or its pinned URL when it is not cached or the cached copy is
    corrupt.
    """
    dataset = info(name)
    if file is None:
        if len(dataset.files) != 1:
            listed = ", ".join(f.path for f in dataset.files)
            raise ValueError(f"{name!r} has several files ({listed}); name one with file=...")
        entry = dataset.files[0]
    else:
        matches = [f for f in dataset.files if f.path in (file, f"{name}/{file}")]
        if not matches:
            listed = ", ".join(f.path for f in dataset.files)
            raise KeyError(f"{name!r} has no file {file!r}; it has {listed}.")
        entry = matches[0]
    target = cache_dir() / entry.path
    if target.is_file():
        if sha256_of(target) == entry.sha256:
            return target
        target.unlink()  # corrupt or stale: fetch again
    _fetch(entry, target)
    return target


def fetch(name: str) -> list[Path]:
    """Make sure every file of a dataset is cached and verified; return their paths."""
    return [path(name, f.path) for f in info(name).files]


def read_bytes(name: str, file: str | None = None) -> bytes:
    """The raw bytes of a dataset's file, exactly as published (BOM, line endings and all)."""
    return path(name, file).read_bytes()
