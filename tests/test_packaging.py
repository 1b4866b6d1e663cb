"""The pins live in pyproject.toml; everything that installs the course must agree with it."""

import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=~!;]", requirement, maxsplit=1)[0].lower()


def _environment():
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_environment_yml_python_satisfies_requires_python():
    deps = _environment()["dependencies"]
    pythons = [d for d in deps if isinstance(d, str) and re.match(r"python\b", d)]
    assert len(pythons) == 1
    major, minor = map(int, pythons[0].split("=")[-1].split(".")[:2])
    low = re.search(r">=(\d+)\.(\d+)", PYPROJECT["requires-python"]).groups()
    high = re.search(r"<(\d+)\.(\d+)", PYPROJECT["requires-python"]).groups()
    assert tuple(map(int, low)) <= (major, minor) < tuple(map(int, high))


def test_environment_yml_installs_the_project_and_pins_nothing_else():
    deps = _environment()["dependencies"]
    assert _environment()["channels"] == ["conda-forge"]
    conda = [d for d in deps if isinstance(d, str)]
    assert sorted(_name(d) for d in conda) == ["pip", "python"], "pin packages in pyproject.toml"
    pip = [d for d in deps if isinstance(d, dict)]
    assert pip == [{"pip": ['-e ".[dev]"']}]


def test_extras_match_what_the_makefile_installs():
    makefile = (ROOT / "Makefile").read_text()
    assert 'pip install --quiet -e ".[dev]"' in makefile
    assert "dev" in PYPROJECT["optional-dependencies"]


def test_core_pins():
    pins = {_name(r): r for r in PYPROJECT["dependencies"]}
    assert pins["tensorflow"].startswith("tensorflow~=2.21.")
    assert ">=3" in pins["keras"] and "<4" in pins["keras"]
    dev = {_name(r): r for r in PYPROJECT["optional-dependencies"]["dev"]}
    assert dev["nbval"] == "nbval~=0.11.0"
    assert {"pytest", "ruff"} <= set(dev)


def test_installed_versions_satisfy_the_pins():
    from importlib.metadata import version

    assert version("tensorflow").startswith("2.21.")
    assert version("keras").startswith("3.")
    assert version("nbval").startswith("0.11.")


def test_readme_commands_exist_in_makefile_and_ci():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for command in ("make lab", "make test"):
        assert f"\n{command}\n" in readme, f"README must show `{command}` on its own line"
        assert re.search(rf"^{command.split()[1]}:", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nmake test\n" in ci and "../shared/data" in ci
