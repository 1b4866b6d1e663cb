import sys
from pathlib import Path

import nbformat
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib
from notebook_template import (
    badge,
    colab_url,
    format_duration,
    new_notebook,
    release_ref,
    repository_url,
    setup_cell_source,
    template_problems,
)

ROOT = Path(__file__).resolve().parent.parent


def test_format_duration():
    assert format_duration(4.4) == "4 s"
    assert format_duration(59.6) == "1 min 00 s"
    assert format_duration(185) == "3 min 05 s"


def test_colab_badge_points_at_the_notebook_itself_at_the_release_tag():
    url = colab_url("03_x.ipynb")
    assert url.startswith("https://colab.research.google.com/github/")
    assert url.endswith(f"/blob/{release_ref()}/notebooks/03_x.ipynb")
    assert url in badge("03_x.ipynb")


def test_release_ref_is_the_project_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert release_ref() == f"v{version}"


def test_setup_cell_installs_the_same_release_the_badge_opens():
    source = setup_cell_source()
    assert f'REPOSITORY = "{repository_url()}"' in source
    assert f'VERSION = "{release_ref()}"' in source
    assert 'f"lstm-course @ git+{REPOSITORY}@{VERSION}"' in source
    assert f"/blob/{release_ref()}/" in colab_url("03_x.ipynb")
    assert 'if "google.colab" in sys.modules:' in source
    compile(source, "setup", "exec")


def test_setup_cell_installs_only_the_course():
    """No other package, no -U: Colab keeps its TensorFlow, kernel and Jupyter packages."""
    command = next(line for line in setup_cell_source().splitlines() if "command = " in line)
    assert command.strip() == (
        'command = ["pip", "install", "-q", f"lstm-course @ git+{REPOSITORY}@{VERSION}"]'
    )


def test_setup_cell_does_nothing_outside_colab():
    namespace = {}
    exec(setup_cell_source(), namespace)  # would raise or install if it did something here
    assert "REPOSITORY" not in namespace


def test_skeleton_conforms(tmp_path):
    nb = new_notebook(tmp_path / "13_new_topic.ipynb", "A new topic")
    assert template_problems(nb, "13_new_topic.ipynb") == []


def test_skeleton_rejects_bad_names(tmp_path):
    with pytest.raises(ValueError, match="NN_topic"):
        new_notebook(tmp_path / "New Topic.ipynb", "x")


def test_departures_are_reported(tmp_path):
    nb = new_notebook(tmp_path / "13_new_topic.ipynb", "A new topic")
    nb.cells[0].source = nb.cells[0].source.replace("13_new_topic", "12_other")
    nb.cells[1].source += "\nprint('changed')"
    nb.cells = [c for c in nb.cells if "## Exercises" not in c.source]
    problems = template_problems(nb, "13_new_topic.ipynb")
    assert any("Colab badge" in p for p in problems)
    assert any("setup cell" in p for p in problems)
    assert any("'## Exercises'" in p for p in problems)
    assert any("<details>" in p for p in problems)
    empty = nbformat.v4.new_notebook()
    assert "H1 title" in template_problems(empty, "13_new_topic.ipynb")[0]


def test_keras_imported_before_environment_setup_is_reported(tmp_path):
    """setup() picks oneDNN and the Keras backend, which only take effect before the import."""
    nb = new_notebook(tmp_path / "13_new_topic.ipynb", "A new topic")
    nb.cells[2].source = "import keras\n\n" + nb.cells[2].source
    problems = template_problems(nb, "13_new_topic.ipynb")
    assert any("`env = environment.setup()`" in p for p in problems), problems
