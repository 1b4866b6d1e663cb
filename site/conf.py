"""Sphinx configuration of the course's website: the 13 notebooks with their stored outputs.

Built by `make site` (tools/build_site.py), which lays out the sources (the notebooks and a
landing page made from README.md) and runs Sphinx with warnings as errors. Nothing is executed:
MyST-NB renders the outputs stored in the notebooks. Math is typeset in the browser by the copy of
MathJax that sphinx-mathjax-offline puts into the site, so no page needs a CDN.

What a reader should not see is changed here, on the way in (the files themselves are not):
nbval's comment markers are dropped from code cells, the Colab badge's image is the site's own
copy (the link still opens Colab), a "Download the notebook" link follows the badge, and links
to files of the repository that are not pages point at GitHub.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from notebook_template import repository_url  # noqa: E402

project = "LSTM Course"
author = "The LSTM Course authors"
copyright = "the LSTM Course authors, MIT License"

extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx-mathjax-offline"]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
# The stored outputs are the site's outputs: never run a notebook while building.
nb_execution_mode = "off"
# "$...$" and "$$...$$" as the notebooks write them.
myst_enable_extensions = ["dollarmath", "amsmath"]
# "$$...$$" inside a paragraph is display math too, as Jupyter renders it (not "$" + "$...$").
myst_dmath_double_inline = True
myst_heading_anchors = 3
# Quotes as the notebooks write them (a title with "Grimm's" stays so), and fences without a
# language (README's `make lab`) shown as plain text.
smartquotes = False
highlight_language = "none"
# Stored outputs may hold several representations; HTML first (notebook 09's error view).
nb_mime_priority_overrides = [("html", "text/html", 0)]

html_theme = "sphinx_book_theme"
html_title = "LSTM Course"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_sourcelink_suffix = ""  # _sources/notebooks/NN_topic.ipynb, not .ipynb.txt
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": repository_url(),
    "repository_branch": "main",
    "use_repository_button": True,
    "use_download_button": True,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "navigation_with_keys": False,
}
# Unset, the theme logs "Got invalid theme mode" to the browser's console on every page.
html_context = {"default_mode": "auto"}

COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
# The badge image as the site serves it (tools/build_site.py copies it into the sources).
LOCAL_BADGE_IMAGE = "/_badge/colab-badge.svg"
# A line that is only an nbval marker ("# NBVAL_CHECK_OUTPUT"): how nbval reads comment markers.
NBVAL_MARKER_LINE = re.compile(r"^\s*#+\s*(NBVAL_[A-Z_]+|PYTEST_VALIDATE_IGNORE_OUTPUT)\s*$")
# A Markdown link or image to a relative path: "](path)" or "](path#anchor)".
RELATIVE_LINK = re.compile(r"\]\((?!https?:|mailto:|#|/)([^)\s#]+)(#[^)\s]*)?\)")
PAGE_SUFFIXES = (".ipynb", ".md")


def strip_markers(code: str) -> str:
    """A code cell's source without nbval's marker lines (and the blank lines they leave on top)."""
    lines = [line for line in code.splitlines() if not NBVAL_MARKER_LINE.match(line)]
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def repository_links(markdown: str, folder: str, srcdir: Path) -> str:
    """Links to files of the repository that are not pages of the site go to GitHub.

    Only files that exist: a link to a page or file that does not exist is left as it is, so
    Sphinx reports it (and the build fails).
    """

    def rewrite(match: re.Match) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        if target.endswith(PAGE_SUFFIXES) and (srcdir / folder / target).exists():
            return match.group(0)
        if (srcdir / folder / target).is_file():
            return match.group(0)  # an image laid out beside the page
        path = (Path(folder) / target).as_posix()
        if not (ROOT / path).exists():
            return match.group(0)
        return f"]({repository_url()}/blob/main/{path}{anchor})"

    return RELATIVE_LINK.sub(rewrite, markdown)


def _badge_and_download(markdown: str, notebook: str) -> str:
    if COLAB_BADGE_IMAGE not in markdown:
        return markdown
    markdown = markdown.replace(COLAB_BADGE_IMAGE, LOCAL_BADGE_IMAGE)
    badge_end = markdown.index(")", markdown.index(LOCAL_BADGE_IMAGE) + len(LOCAL_BADGE_IMAGE) + 1)
    download = f" {{download}}`Download the notebook <{notebook}>`"
    return markdown[: badge_end + 1] + download + markdown[badge_end + 1 :]


def prepare_notebook(text: str, docname: str, srcdir: Path) -> str:
    """The notebook as the site shows it (its JSON text in, its JSON text out)."""
    nb = json.loads(text)
    folder, name = str(Path(docname).parent), Path(docname).name + ".ipynb"
    first_markdown = True
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            source = strip_markers(source)
        elif cell["cell_type"] == "markdown":
            if first_markdown:
                source = _badge_and_download(source, name)
                first_markdown = False
            source = repository_links(source, folder, srcdir)
        cell["source"] = source
    return json.dumps(nb)


def _source_read(app, docname: str, content: list[str]) -> None:
    srcdir = Path(app.srcdir)
    if app.env.doc2path(docname).suffix == ".ipynb":
        content[0] = prepare_notebook(content[0], docname, srcdir)
    else:
        markdown = content[0].replace(COLAB_BADGE_IMAGE, LOCAL_BADGE_IMAGE)
        content[0] = repository_links(markdown, str(Path(docname).parent), srcdir)


def setup(app):
    app.connect("source-read", _source_read)
