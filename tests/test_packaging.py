"""The pins live in pyproject.toml; everything that installs the course must agree with it."""

import re
import sys
from pathlib import Path

import pytest
import yaml
from oldest_requirements import floor, oldest_requirements
from packaging.specifiers import SpecifierSet
from packaging.version import Version

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


def _extra(name: str) -> dict[str, str]:
    return {_name(r): r for r in PYPROJECT["optional-dependencies"][name]}


def test_dev_installs_the_pins_the_lab_the_test_tools_and_the_site_tools():
    assert PYPROJECT["optional-dependencies"]["dev"] == ["lstm-course[pinned,lab,test,site]"]


def test_site_tools_stay_out_of_the_oldest_environment():
    """`make oldest` installs `.[test]` beside old TensorFlow: the site tools are not in it, and
    it leaves tests/test_site.py out explicitly (the `make test` stage checks the site)."""
    site = _extra("site")
    assert {"sphinx", "myst-nb", "sphinx-book-theme", "sphinx-mathjax-offline",
            "playwright"} <= set(site)
    assert not set(site) & set(_extra("test"))
    makefile = (ROOT / "Makefile").read_text()
    assert '-e ".[test]"' in makefile and "--ignore tests/test_site.py" in makefile


def test_runtime_dependencies_are_minimums_only():
    """What Colab's setup cell installs: floors (and a major-version cap), never a pin."""
    runtime = {_name(r): r for r in PYPROJECT["dependencies"]}
    assert set(runtime) == {"tensorflow", "keras", "numpy", "matplotlib"}
    for requirement in runtime.values():
        assert floor(requirement)  # raises on ==, ~=, or no minimum
    assert ">=3" in runtime["keras"] and "<4" in runtime["keras"]
    assert not {"jupyterlab", "ipykernel", "ipython", "jupyter-client", "tornado",
                "protobuf", "torch"} & set(runtime), "Colab's own stack must not be a dependency"


def test_floor_rejects_pins():
    assert floor("keras>=3.5,<4") == "keras==3.5.*"
    assert floor("tensorflow>=2.18") == "tensorflow==2.18.*"
    for bad in ("tensorflow~=2.21.0", "numpy==2.0", "matplotlib", "keras<4"):
        with pytest.raises(ValueError):
            floor(bad)


def test_oldest_environment_derives_from_the_minimums():
    runtime = [_name(r) for r in PYPROJECT["dependencies"]]
    oldest = oldest_requirements()
    assert [_name(r) for r in oldest[: len(runtime)]] == runtime
    assert all("==" in r for r in oldest)
    makefile = (ROOT / "Makefile").read_text()
    assert "tools/oldest_requirements.py" in makefile and 'pip install --quiet $$(' in makefile


def test_pinned_set_is_tensorflow_2_21_and_within_the_minimums():
    pinned = _extra("pinned")
    assert set(pinned) == {_name(r) for r in PYPROJECT["dependencies"]}
    assert pinned["tensorflow"].startswith("tensorflow~=2.21.")
    assert _extra("gpu")["tensorflow"].startswith("tensorflow[and-cuda]~=2.21.")
    for requirement in PYPROJECT["dependencies"]:
        name = _name(requirement)
        pin_low = Version(_lowest(pinned[name]))
        assert pin_low >= Version(_lowest(requirement)), (pinned[name], requirement)
        assert pin_low in SpecifierSet(requirement[len(name):]), (pinned[name], requirement)


def _lowest(requirement: str) -> str:
    return re.search(r"(?:~=|>=|==)\s*([0-9][0-9.]*)", requirement)[1]


def test_lab_and_test_tools_are_extras():
    assert {"jupyterlab", "ipykernel"} <= set(_extra("lab"))
    test = _extra("test")
    assert test["nbval"] == "nbval~=0.11.0"
    assert {"pytest", "ruff", "nbclient", "nbformat", "pyyaml"} <= set(test)
    assert "ipykernel" not in test, "the test tools must also run beside Colab's ipykernel 6"
    assert _extra("bench") == {"torch": "torch>=2.4"}


def test_installed_versions_satisfy_the_minimums():
    from importlib.metadata import version

    for requirement in PYPROJECT["dependencies"]:
        name, spec = _name(requirement), requirement[len(_name(requirement)):]
        assert Version(version(name)) in SpecifierSet(spec), f"{name} {version(name)}: {spec}"


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="only the pinned .venv of `make install` (not .venv-oldest)")
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
    assert "../shared/data" in ci
    stages = re.findall(r"^stage [\w-]+ (make [\w-]+)$", ci, re.M)
    assert stages[0] == "make test", "CI runs the README's test command first"
    assert {"make cpu-variants", "make oldest"} <= set(stages)
    assert all(re.search(rf"^{s.split()[1]}:", makefile, re.M) for s in stages)
