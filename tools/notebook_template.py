"""The one template every course notebook follows, and a command that starts a new notebook.

The repository URL and the release tag are read from pyproject.toml ([project.urls] Repository,
[project] version), so the Colab badge and the Colab install line of every notebook come from one
place and point at the same tag; tests/test_notebooks.py checks that each notebook matches what
this module renders.

    python tools/notebook_template.py notebooks/05_lstms_in_keras.ipynb "LSTMs in Keras"
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_NAME = re.compile(r"^(\d\d)_[a-z0-9]+(_[a-z0-9]+)*\.ipynb$")
# Headings every notebook has, in this order (the template of the TensorFlow docs notebooks).
REQUIRED_HEADINGS = ("## What you will learn", "## Exercises", "## Summary", "## What's next")
METADATA_KEY = "lstm_course"
# The second code cell starts with these lines: environment.setup() chooses TensorFlow's settings
# (oneDNN, the Keras backend, log levels), which only work before keras or tensorflow is imported.
ENVIRONMENT_SETUP = "from utils import environment\n\nenv = environment.setup()\n"
# As JupyterLab writes it when it opens a notebook with the python3 kernel of ipykernel: stored this
# way, opening a notebook changes nothing (no autosaved edit that makes a later `git pull` refuse).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def format_duration(seconds: float) -> str:
    """Run times as the README shows them: '42 s', '3 min 05 s'."""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def repository_url() -> str:
    return _project()["urls"]["Repository"].rstrip("/")


def release_ref() -> str:
    """The git tag of this version of the course ([project] version, e.g. 'v0.1.0').

    The Colab badge opens the notebook at this tag and the setup cell installs the course at this
    tag, so a notebook in Colab always runs the `utils` it was written against, never main's.
    """
    return f"v{_project()['version']}"


def colab_requirement(source: str | None = None) -> str:
    """What the setup cell gives pip: the course at this release, with its run-time minimums only.

    `source` replaces the git URL (CI replays the cell against its own checkout).
    """
    return f"lstm-course @ {source or f'git+{repository_url()}@{release_ref()}'}"


def colab_url(notebook: str) -> str:
    """The Colab address of a notebook of this repository: its own path, at release_ref()."""
    github_path = repository_url().removeprefix("https://github.com/")
    return (
        f"https://colab.research.google.com/github/{github_path}/blob/{release_ref()}"
        f"/notebooks/{notebook}"
    )


def badge(notebook: str) -> str:
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook)})"
    )


def setup_cell_source() -> str:
    """The standard first code cell: installs the course in Colab, does nothing elsewhere.

    Only `lstm-course` itself is named, at the release the notebook belongs to; its dependencies
    are minimum versions ([project] dependencies), so pip keeps Colab's TensorFlow, numpy, kernel
    and Jupyter packages and upgrades only what is below a minimum. No `-U`: that would upgrade
    every dependency. tools/colab_install_check.py replays this cell in CI.
    """
    return (
        "# Setup: in Colab this installs the course's `utils` at the version of this notebook.\n"
        "# Colab's TensorFlow, kernel and Jupyter stay as they are (pip upgrades only a library\n"
        "# older than the course needs). Locally `make lab` already did, and this does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        f'    REPOSITORY = "{repository_url()}"\n'
        f'    VERSION = "{release_ref()}"\n'
        '    command = ["pip", "install", "-q", f"lstm-course @ git+{REPOSITORY}@{VERSION}"]\n'
        '    subprocess.run([sys.executable, "-m", *command], check=True)'
    )


def new_notebook(path: Path, title: str) -> nbformat.NotebookNode:
    """A notebook skeleton that passes the template checks; the author fills in the sections."""
    if not NOTEBOOK_NAME.match(path.name):
        raise ValueError(f"{path.name!r} is not NN_topic.ipynb (digits, lowercase, underscores)")
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md(f"# {title}\n\n{badge(path.name)}\n\nOne paragraph: what this notebook is about.\n\n"
           "## What you will learn\n\n- ...\n- ..."),
        code(setup_cell_source()),
        code(f"{ENVIRONMENT_SETUP}\nfrom utils import profiles"),
        md("## 1. First section\n\nShort prose, the equation in LaTeX, then the code that "
           "computes it."),
        md("## Exercises\n\n1. Change a number and predict the result before running.\n\n"
           "<details><summary>Solution</summary>\n\n...\n\n</details>"),
        md("## Summary\n\n- ...\n\n## What's next\n\n..."),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _heading_lines(nb) -> list[str]:
    return [
        line.strip()
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    ]


def template_problems(nb, name: str) -> list[str]:
    """What in a notebook departs from the template (empty when it conforms)."""
    problems = []
    if not NOTEBOOK_NAME.match(name):
        problems.append(f"file name {name!r} is not NN_topic.ipynb")
    cells = nb.cells
    first = cells[0] if cells else None
    if first is None or first.cell_type != "markdown" or not first.source.startswith("# "):
        problems.append("the first cell must be markdown starting with an H1 title ('# ...')")
    elif badge(name) not in first.source:
        problems.append(f"the first cell lacks the Colab badge for its own path: {badge(name)}")
    headings = _heading_lines(nb)
    positions = {}
    for required in REQUIRED_HEADINGS:
        if required in headings:
            positions[required] = headings.index(required)
        else:
            problems.append(f"missing heading {required!r}")
    order = [positions[h] for h in REQUIRED_HEADINGS if h in positions]
    if order != sorted(order):
        problems.append(f"headings out of order; expected {', '.join(REQUIRED_HEADINGS)}")
    code = [c for c in cells if c.cell_type == "code"]
    if not code or code[0].source != setup_cell_source():
        problems.append("the first code cell must be the standard setup cell (setup_cell_source())")
    if len(code) < 2 or not code[1].source.startswith(ENVIRONMENT_SETUP):
        problems.append(
            "the second code cell must start with `from utils import environment` and "
            "`env = environment.setup()`, before anything imports keras or tensorflow"
        )
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    exercises = markdown.partition("## Exercises")[2].partition("## Summary")[0]
    if "<details>" not in exercises:
        problems.append("exercises need solutions folded in <details>")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    path, title = Path(argv[1]), argv[2]
    if path.exists():
        print(f"{path} exists; not overwriting it", file=sys.stderr)
        return 1
    nbformat.write(new_notebook(path, title), path)
    print(f"wrote {path}; fill it in, then `make execute NOTEBOOKS={path}`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
