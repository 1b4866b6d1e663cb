"""Notebook hygiene: every notebook follows the template and stores the outputs of a real run."""

import re
from pathlib import Path

import nbformat
import pytest
from notebook_template import METADATA_KEY, NOTEBOOK_NAME, format_duration, template_problems

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_BYTES = 2_000_000
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")  # all but newline
ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/home/|/root/|/work/|/tmp/|/Users/|/opt/|[A-Z]:\\\\)")


def _ids(paths):
    return [p.name for p in paths]


def test_notebooks_are_numbered_as_in_the_course_map():
    numbers = [int(NOTEBOOK_NAME.match(p.name).group(1)) for p in NOTEBOOKS]
    assert numbers[0] == 0 and len(set(numbers)) == len(numbers), numbers
    welcome = nbformat.read(ROOT / "notebooks" / "00_welcome.ipynb", as_version=4)
    course_map = "\n".join(c.source for c in welcome.cells if c.cell_type == "markdown")
    for path in NOTEBOOKS:
        assert f"| {path.name[:2]} | `{path.name}` |" in course_map, f"{path.name} not in the map"


@pytest.fixture(params=NOTEBOOKS, ids=_ids(NOTEBOOKS))
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_follows_the_template(notebook):
    path, nb = notebook
    assert template_problems(nb, path.name) == []


def test_outputs_come_from_one_run_in_order(notebook):
    _, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "re-run with `make execute`"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []


def test_run_metadata_recorded(notebook):
    _, nb = notebook
    run = nb.metadata.get(METADATA_KEY)
    assert run, "no run metadata: produce the outputs with `make execute`"
    assert run["profile"] == "cpu", "stored outputs come from the cpu profile"
    assert run["tensorflow"].startswith("2.21.")
    assert run["wall_time_s"] > 0


def test_kernelspec_is_the_one_jupyterlab_writes(notebook):
    """JupyterLab rewrites a notebook's kernelspec from the kernel it starts, and a notebook
    whose stored one differs is marked modified as soon as it is opened (then autosaved)."""
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    _, nb = notebook
    installed = get_kernel_dict()
    expected = {"display_name": installed["display_name"], "language": installed["language"],
                "name": KERNEL_NAME}
    assert dict(nb.metadata["kernelspec"]) == expected


def test_no_absolute_paths(notebook):
    path, _ = notebook
    text = path.read_text(encoding="utf-8")
    found = sorted(set(m.group(0) for m in ABSOLUTE_PATH.finditer(text)))
    assert not found, f"absolute paths in {path.name}: {found}"


def test_sources_have_no_control_characters(notebook):
    """A tab or backspace in a cell's source is almost always an escape gone wrong: "\\tanh"
    written in a non-raw Python string becomes a tab followed by "anh"."""
    _, nb = notebook
    bad = [
        (i, repr(cell.source[max(0, m.start() - 20) : m.start() + 5]))
        for i, cell in enumerate(nb.cells)
        for m in CONTROL.finditer(cell.source)
    ]
    assert not bad, f"control characters (cell index, context): {bad}"


def test_nbval_markers_are_cell_tags_not_lines_learners_see(notebook):
    """nbval reads a cell's tags (nbval-check-output, nbval-ignore-output, nbval-skip,
    nbval-raises-exception) as it reads "# NBVAL_..." comment lines; tags are not in the code a
    learner reads (nor on the website). A tag nbval does not know would silently check nothing."""
    from nbval.plugin import find_comment_markers, metadata_tags

    _, nb = notebook
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    shown = [i for i, cell in code if list(find_comment_markers(cell.source))]
    assert shown == [], f"cells (index) with a marker line in their source: {shown}"
    unknown = sorted({tag for _, cell in code for tag in cell.metadata.get("tags", [])
                      if tag.startswith(("nbval", "raises")) and tag not in metadata_tags})
    assert unknown == [], f"tags nbval does not know: {unknown}"


def test_size_is_bounded(notebook):
    path, _ = notebook
    assert path.stat().st_size < MAX_BYTES


def test_readme_shows_the_measured_cpu_run_time(notebook):
    path, nb = notebook
    rows = [line for line in (ROOT / "README.md").read_text().splitlines()
            if f"(notebooks/{path.name})" in line and line.startswith("|")]
    assert len(rows) == 1, f"README's table needs one row for {path.name}"
    measured = format_duration(nb.metadata[METADATA_KEY]["wall_time_s"])
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[-2] == measured, f"README: {cells[-2]!r} for the cpu run; metadata: {measured!r}"


def test_readme_and_welcome_list_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    welcome = nbformat.read(ROOT / "notebooks" / "00_welcome.ipynb", as_version=4)
    course_map = "\n".join(c.source for c in welcome.cells if c.cell_type == "markdown")
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in readme, f"README's table lacks {path.name}"
        assert path.name in course_map, f"00_welcome's course map lacks {path.name}"
