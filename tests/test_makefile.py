"""The Makefile: `make help` lists every target; unsupported or other Pythons are caught."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = (ROOT / "Makefile").read_text()

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _make(*args, **env):
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=60)


def _targets() -> set[str]:
    phony = re.search(r"^\.PHONY:(.*)$", MAKEFILE, re.M)[1].split()
    return {t for t in phony if t != "FORCE"}


def test_every_target_is_phony_and_listed_by_make_help():
    rules = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, re.M))
    assert rules == _targets()
    listed = set(re.findall(r"^make ([a-z-]+) ", _make("help").stdout, re.M))
    assert listed == _targets()
    assert {"install", "lab", "test", "lint", "unit", "notebooks", "execute", "clean",
            "cpu-variants", "oldest"} <= listed


def _fake_python(path: Path, version: str) -> Path:
    """A `python -c CODE` that runs CODE here but reports another version to the Makefile."""
    major, minor = map(int, version.split(".")[:2])
    path.write_text(
        f"#!{sys.executable}\n"
        "import platform, sys\n"
        f"sys.version_info = ({major}, {minor}, 0, 'final', 0)\n"
        f"platform.python_version = lambda: {version!r}\n"
        "assert sys.argv[1] == '-c', sys.argv\n"
        "exec(sys.argv[2])\n"
    )
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("version", ["3.14.0", "3.9.18"])
def test_unsupported_python_is_rejected_before_building(tmp_path, version):
    venv = tmp_path / "venv"
    result = _make("install", f"VENV={venv}", f"PYTHON={_fake_python(tmp_path / 'py', version)}")
    assert result.returncode != 0
    assert "supports Python 3.10 to 3.13" in result.stderr
    assert not venv.exists()


def test_missing_python_is_named():
    result = _make("install", "VENV=/nonexistent/venv", "PYTHON=no-such-python3")
    assert result.returncode != 0 and "no Python 'no-such-python3'" in result.stderr


def _installed_venv(tmp_path: Path, python: Path) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(python)
    (venv / ".installed").touch()  # newer than pyproject.toml
    return venv


def test_venv_of_the_same_python_is_kept(tmp_path):
    venv = _installed_venv(tmp_path, Path(sys.executable))
    result = _make("-n", "install", f"VENV={venv}", f"PYTHON={sys.executable}")
    assert result.returncode == 0, result.stderr
    assert "pip install" not in result.stdout


def test_venv_of_another_python_is_rebuilt(tmp_path):
    venv = _installed_venv(tmp_path, _fake_python(tmp_path / "other", "3.12.99"))
    result = _make("-n", "install", f"VENV={venv}", f"PYTHON={sys.executable}")
    assert result.returncode == 0, result.stderr
    assert 'have="cpython-3.12.99"' in result.stdout and f"rm -rf {venv}" in result.stdout
    assert 'pip install --quiet -e ".[dev]"' in result.stdout
