import hashlib
import json
import os
import re
import shutil
import socket
from pathlib import Path

import pytest

from utils import datasets

CONTENT = b"\xef\xbb\xbfOnce upon a time\r\nthere was a test file.\r\n" * 50


def _registry(tmp_path: Path, content: bytes = CONTENT, url: str = "https://example.invalid/x"):
    """A one-dataset manifest in the mirror's format, and the mirror folder that holds its file."""
    mirror = tmp_path / "mirror"
    (mirror / "tales").mkdir(parents=True)
    (mirror / "tales" / "tales.txt").write_bytes(content)
    manifest = {
        "format": 1,
        "datasets": [
            {
                "name": "tales",
                "title": "Test tales",
                "description": "A file made by the tests.",
                "license": "CC0",
                "upstream": "tests",
                "files": [
                    {
                        "path": "tales/tales.txt",
                        "bytes": len(CONTENT),
                        "sha256": hashlib.sha256(CONTENT).hexdigest(),
                        "url": url,
                    }
                ],
            }
        ],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return datasets.load_registry(tmp_path / "manifest.json"), mirror


@pytest.fixture
def fake(tmp_path, monkeypatch):
    registry, mirror = _registry(tmp_path)
    cache = tmp_path / "cache"
    monkeypatch.setattr(datasets, "REGISTRY", registry)
    monkeypatch.setenv(datasets.CACHE_ENV, str(cache))
    monkeypatch.setenv(datasets.MIRROR_ENV, str(mirror))
    return mirror, cache


def _leftovers(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


def test_good_file_from_a_mirror_folder_is_cached_and_verified(fake):
    mirror, cache = fake
    local = datasets.path("tales")
    assert local == cache / "tales" / "tales.txt"
    assert local.read_bytes() == CONTENT
    assert local.stat().st_mode & 0o777 == 0o644  # readable by others, like any downloaded file
    assert datasets.read_bytes("tales") == CONTENT  # raw: BOM and CRLF kept
    shutil.rmtree(mirror)  # the cache now serves it without the source
    assert datasets.path("tales") == local
    assert datasets.fetch("tales") == [local]


def test_mirror_as_url_prefix(fake, monkeypatch):
    mirror, cache = fake
    monkeypatch.setenv(datasets.MIRROR_ENV, mirror.as_uri() + "/")
    assert datasets.read_bytes("tales") == CONTENT


def test_corrupt_cache_is_fetched_again(fake):
    _, cache = fake
    local = datasets.path("tales")
    local.write_bytes(b"truncated")
    assert datasets.read_bytes("tales") == CONTENT


def test_wrong_hash_at_the_source_fails_and_keeps_nothing(fake):
    mirror, cache = fake
    (mirror / "tales" / "tales.txt").write_bytes(CONTENT.replace(b"time", b"tide"))
    with pytest.raises(datasets.DataIntegrityError, match="registry expects [0-9a-f]{64}"):
        datasets.path("tales")
    assert _leftovers(cache) == []


def test_interrupted_download_leaves_no_file(fake, monkeypatch):
    _, cache = fake

    def copy_half_then_stop(src, dst, *args):
        dst.write(src.read(100))
        raise KeyboardInterrupt  # the learner pressed stop, or the kernel died

    monkeypatch.setattr(datasets.shutil, "copyfileobj", copy_half_then_stop)
    with pytest.raises(KeyboardInterrupt):
        datasets.path("tales")
    assert _leftovers(cache) == []


def test_file_missing_from_mirror_is_a_clear_error(fake):
    mirror, cache = fake
    (mirror / "tales" / "tales.txt").unlink()
    with pytest.raises(datasets.DataUnavailableError, match="tales/tales.txt"):
        datasets.path("tales")
    assert _leftovers(cache) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_error_says_how_to_use_a_mirror(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}/tales.txt"  # nothing listens: like being offline
    registry, _ = _registry(tmp_path, url=url)
    monkeypatch.setattr(datasets, "REGISTRY", registry)
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)
    with pytest.raises(datasets.DataUnavailableError) as err:
        datasets.path("tales")
    message = str(err.value)
    assert url in message and "COURSE_DATA_MIRROR" in message and "no internet" in message
    assert _leftovers(tmp_path / "cache") == []


def test_unknown_names_are_clear_errors(fake):
    with pytest.raises(KeyError, match="No dataset named 'grim'; registered: tales"):
        datasets.path("grim")
    with pytest.raises(KeyError, match="no file 'other.txt'"):
        datasets.path("tales", "other.txt")
    assert datasets.path("tales", "tales.txt").read_bytes() == CONTENT


def test_cache_dir_default_and_override(monkeypatch, root):
    monkeypatch.delenv(datasets.CACHE_ENV, raising=False)
    assert datasets.cache_dir() == root / "data" / "cache"
    monkeypatch.setenv(datasets.CACHE_ENV, "/somewhere/else")
    assert datasets.cache_dir() == Path("/somewhere/else")


def test_cache_is_git_ignored(root):
    assert "data/cache/" in (root / ".gitignore").read_text().splitlines()


def test_registry_has_the_course_corpora():
    assert datasets.names() == ["grimm", "tinyshakespeare", "sunspots", "melbourne-temperatures"]
    for name in datasets.names():
        record = datasets.info(name)
        assert record.title and record.license and record.description
        for f in record.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert f.url.startswith("https://raw.githubusercontent.com/")
            assert re.search(r"/[0-9a-f]{40}/", f.url), "URL must pin a commit"
            assert f.path.startswith(name + "/") and f.bytes > 0


def test_registry_documented_in_data_readme(root):
    readme = (root / "data" / "README.md").read_text()
    for name in datasets.names():
        record = datasets.info(name)
        for f in record.files:
            assert f"| `{name}` | `{f.path}` | {f.bytes:,} |" in readme


SHARED_MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "manifest.json"


@pytest.mark.skipif(not SHARED_MANIFEST.is_file(), reason="no ../shared/data beside the checkout")
def test_registry_matches_the_shared_manifest():
    assert datasets.load_registry(SHARED_MANIFEST) == datasets.REGISTRY


@pytest.mark.skipif(
    not os.environ.get(datasets.MIRROR_ENV), reason="COURSE_DATA_MIRROR not set (CI sets it)"
)
def test_every_registered_file_loads_from_the_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path))
    for name in datasets.names():
        for local, f in zip(datasets.fetch(name), datasets.info(name).files, strict=True):
            assert local.stat().st_size == f.bytes
            assert datasets.sha256_of(local) == f.sha256
