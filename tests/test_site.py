"""The course as a website (`make site`): built from the stored notebooks, checked as files and
in a real browser (Debian's Chromium driven by Playwright, offline: any request that leaves the
local server fails the test).

The site is built once per session into a temporary folder with tools/build_site.py, warnings as
errors. Screenshots of the pages the browser checks go to _site_screenshots/ (git-ignored; CI
keeps them as artifacts).
"""

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from bs4 import BeautifulSoup
from build_site import build, notebooks
from notebook_template import colab_url

# The book theme and MyST still use Sphinx APIs that Sphinx 11 removes: their warnings, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:.*Check CHANGES for Sphinx API modifications")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebooks()
SCREENSHOTS = ROOT / "_site_screenshots"
# The pages the browser opens: the landing page, and notebooks with equations, a wide table, a
# beam search tree and HTML outputs.
BROWSER_PAGES = ["index", "notebooks/02_the_lstm_cell", "notebooks/07_decoding",
                 "notebooks/11_training_at_speed"]
# LaTeX a reader should never see: dollar signs, \begin{...}, \frac{...}, MathJax's delimiters
# \( \) \[ \] left in the text when it did not run. The prose uses no "$" of its own.
RAW_LATEX = re.compile(r"\$+|\\[a-zA-Z]+\{|\\[()[\]]")
# The sidebar's links to the notebooks (the landing page's own link is in another list).
SIDEBAR_LINKS = "nav.bd-docs-nav ul.bd-sidenav:not(.bd-sidenav__home-link) a.reference"
NBVAL_WORD = re.compile(r"NBVAL_[A-Z_]+")


# --- checks on built files, each a function that returns what is wrong (tested on bad input) ---


def _html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if p.relative_to(site).parts[0][0] != "_")


def _soup(page: Path) -> BeautifulSoup:
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")


def _text(element) -> str:
    """An element's text as a reader sees it (whitespace collapsed)."""
    return " ".join(element.get_text(" ").split())


def broken_references(site: Path) -> list[str]:
    """Every internal href and src that points at no file, or at an anchor that is not there."""
    ids: dict[Path, set[str]] = {}
    problems = []
    for page in _html_pages(site):
        soup = _soup(page)
        for tag, attribute in (("a", "href"), ("img", "src"), ("script", "src"), ("link", "href")):
            for element in soup.find_all(tag):
                value = element.get(attribute)
                if not value or re.match(r"^[a-z][a-z0-9+.-]*:", value):
                    continue  # external (checked in the browser: nothing may be requested)
                url = urlsplit(value)
                target = (page.parent / unquote(url.path)).resolve() if url.path else page
                if not target.is_file():
                    problems.append(f"{page.relative_to(site)}: {tag} {value} (no such file)")
                    continue
                if url.fragment and target.suffix == ".html":
                    if target not in ids:
                        ids[target] = {e["id"] for e in _soup(target).find_all(id=True)}
                    if unquote(url.fragment) not in ids[target]:
                        problems.append(f"{page.relative_to(site)}: {value} (no such anchor)")
    return problems


def raw_latex(page: Path) -> list[str]:
    """Text a reader would see as LaTeX source: outside code, scripts and the math elements."""
    soup = _soup(page)
    article = soup.find("article") or soup
    for element in article.find_all(["script", "style", "pre", "code"]):
        element.decompose()
    for element in article.find_all(class_="math"):
        element.decompose()
    return [m.group(0) for m in RAW_LATEX.finditer(article.get_text())]


def marker_lines(page: Path) -> list[str]:
    """nbval markers in the code a notebook page shows."""
    return [m.group(0) for pre in _soup(page).find_all("pre") for m in NBVAL_WORD.finditer(
        pre.get_text())]


def test_checks_find_what_they_look_for(tmp_path):
    (tmp_path / "page.html").write_text(
        '<html><body><article><p>An equation $$x^2$$ left as source, \\begin{aligned} too, and '
        '<span class="math">\\(x\\)</span> rendered.</p><a href="missing.html">x</a>'
        '<a href="page.html#nowhere">y</a><a href="#here" id="here">z</a><img src="gone.png">'
        '<pre># NBVAL_CHECK_OUTPUT\nprint(1)</pre><code>$$ in code is fine</code>'
        '<a href="https://example.org/">external</a></article></body></html>')
    page = tmp_path / "page.html"
    assert broken_references(tmp_path) == [
        "page.html: a missing.html (no such file)",
        "page.html: page.html#nowhere (no such anchor)",
        "page.html: img gone.png (no such file)",
    ]
    assert raw_latex(page) == ["$$", "$$", "\\begin{"]
    assert marker_lines(page) == ["NBVAL_CHECK_OUTPUT"]


# --- the course's site ---


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("site")
    return build(out=work / "html", work_dir=work / "work")


def test_a_warning_fails_the_build(tmp_path):
    """Warnings are errors: a notebook that links to a page that does not exist stops the build."""
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("See [the missing notebook](99_missing.ipynb)."))
    path = tmp_path / NOTEBOOKS[0].name
    nbformat.write(nb, path)
    with pytest.raises(SystemExit, match="did not build"):
        build(out=tmp_path / "html", work_dir=tmp_path / "work", notebook_paths=[path],
              readme="# A course\n")


def test_every_notebook_has_its_page_titled_as_the_notebook(site):
    for path in NOTEBOOKS:
        page = site / "notebooks" / f"{path.stem}.html"
        assert page.is_file(), f"no page for {path.name}"
        title = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0].lstrip("# ")
        assert _soup(page).find("h1").get_text().strip().rstrip("#").strip() == title


def test_no_broken_internal_link_or_missing_image(site):
    assert broken_references(site) == []
    images = [img for page in _html_pages(site) for img in _soup(page).find_all("img")]
    assert len(images) > 30  # the stored figures are there, not dropped


def test_no_raw_latex_in_the_text_of_any_page(site):
    problems = {str(p.relative_to(site)): raw_latex(p) for p in _html_pages(site)}
    assert {page: found for page, found in problems.items() if found} == {}
    assert len(_soup(site / "notebooks/02_the_lstm_cell.html").find_all(class_="math")) > 50


def test_nbval_markers_are_not_shown(site):
    for path in NOTEBOOKS:
        assert marker_lines(site / "notebooks" / f"{path.stem}.html") == [], path.name


def test_sidebar_lists_the_notebooks_in_course_order(site):
    expected = [p.stem for p in NOTEBOOKS]
    pages = ["index.html", "notebooks/00_welcome.html", "notebooks/12_time_series_forecasting.html"]
    for page in pages:
        listed = [Path(urlsplit(a["href"]).path).stem or Path(page).stem
                  for a in _soup(site / page).select(SIDEBAR_LINKS)]
        assert listed == expected, page


def test_previous_and_next_links_follow_the_course(site):
    pages = ["index", *[f"notebooks/{p.stem}" for p in NOTEBOOKS]]
    for before, page, after in zip(pages[:-1], pages[1:], [*pages[2:], None], strict=True):
        soup = _soup(site / f"{page}.html")
        previous = soup.select_one(".prev-next-area a.left-prev")
        following = soup.select_one(".prev-next-area a.right-next")
        assert (site / page).parent.joinpath(previous["href"]).resolve() == \
            (site / f"{before}.html").resolve(), page
        if after is None:
            assert following is None or "genindex" in following["href"], page
        else:
            assert (site / page).parent.joinpath(following["href"]).resolve() == \
                (site / f"{after}.html").resolve(), page


def test_each_notebook_page_has_its_colab_badge_and_a_download_of_the_notebook(site):
    for path in NOTEBOOKS:
        page = site / "notebooks" / f"{path.stem}.html"
        soup = _soup(page)
        badge = soup.find("a", href=colab_url(path.name))
        assert badge is not None and badge.find("img", alt="Open In Colab"), path.name
        assert not badge.find("img")["src"].startswith("http"), "the badge image is the site's"
        download = soup.select_one("a.reference.download")
        assert download is not None and _text(download) == "Download the notebook"
        target = page.parent / unquote(download["href"])
        assert target.name == path.name and target.read_bytes() == path.read_bytes()


def test_landing_page_is_the_readme(site):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    soup = _soup(site / "index.html")
    assert soup.find("h1").get_text().strip().rstrip("#").strip() == readme.splitlines()[0][2:]
    text = _text(soup.find("article"))
    for heading in re.findall(r"^## (.+)$", readme, re.M):
        assert heading.replace("`", "") in text
    for command in ("make lab", "make test"):
        assert command in text
    for path in NOTEBOOKS:  # the map links to the pages, not to the .ipynb files
        assert soup.find("a", href=f"notebooks/{path.stem}.html"), path.name


def test_stored_outputs_are_rendered_not_executed(site):
    """What the notebooks stored is on the pages: figures, text, HTML outputs."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        soup = _soup(site / "notebooks" / f"{path.stem}.html")
        pngs = sum("image/png" in o.get("data", {}) for o in outputs)
        assert len(soup.select("article img")) >= pngs, path.name
        html = sum("text/html" in o.get("data", {}) for o in outputs)
        assert len(soup.select(".output.text_html")) == html, path.name
        text = _text(soup.find("article"))
        for output in outputs:
            if output.output_type == "stream" and output.name == "stdout":
                first = next((line for line in output.text.splitlines() if line.strip()), "")
                assert " ".join(first.split()) in text, (path.name, first)


def test_self_checking_exercises_render_as_code_with_their_stored_verdict(site):
    """Each notebook's exercise scaffolds and check cells are on its page as code, with the
    "Not attempted yet" verdict the notebook stored (the scaffolds are unfilled)."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        checks = [c for c in nb.cells if c.cell_type == "code"
                  and "from utils.exercises import check_" in c.source]
        soup = _soup(site / "notebooks" / f"{path.stem}.html")
        code = "\n".join(block.get_text() for block in soup.select("article pre"))
        for cell in checks:
            call = next(line for line in cell.source.splitlines() if line.startswith("check_"))
            assert call in code, (path.name, call)
            verdict = "".join(o.get("text", "") for o in cell.outputs).strip()
            assert verdict.startswith("Not attempted yet"), (path.name, verdict)
            assert " ".join(verdict.split()) in _text(soup.find("article")), (path.name, verdict)
        if path.name[:2] != "00":
            assert checks, f"{path.name}: no self-checking exercise"


# --- the browser ---


def _chromium() -> str | None:
    for candidate in ("/usr/lib/chromium/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def browser():
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium on this machine: install Debian's `chromium` package "
                    "(.ci/run does, with apt-get); the browser check needs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, server):
    """Open a page of the site offline; yields (page, problems): console errors, page errors,
    failed requests and any request that leaves the local server."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    problems: list[str] = []

    def route(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            problems.append(f"request outside the site: {route.request.url}")
            route.abort()

    def go(name: str):
        page = context.new_page()
        page.route("**/*", route)
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
        page.goto(f"{server}/{name}.html", wait_until="load")
        return page

    yield go, problems
    context.close()


@pytest.mark.parametrize("name", BROWSER_PAGES)
def test_page_in_the_browser(open_page, name):
    go, problems = open_page
    page = go(name)

    # The sidebar lists the 13 notebooks in course order.
    hrefs = page.eval_on_selector_all(SIDEBAR_LINKS, "links => links.map(a => a.href)")
    listed = [Path(urlsplit(h).path).stem for h in hrefs]
    assert listed == [p.stem for p in NOTEBOOKS]

    # Equations: MathJax (the site's own copy) has typeset every math element; no LaTeX shows.
    if page.locator("article .math").count():  # Sphinx loads MathJax only where there is math
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
    math, typeset = page.evaluate("""() => [
        document.querySelectorAll('article .math').length,
        document.querySelectorAll('article .math mjx-container').length]""")
    assert math == typeset
    if name != "index":
        assert typeset > 0
    visible = page.evaluate("""() => {
        const article = document.querySelector('article').cloneNode(true);
        const hidden = 'pre, code, script, style, mjx-container';
        article.querySelectorAll(hidden).forEach(e => e.remove());
        return article.innerText; }""")
    assert RAW_LATEX.findall(visible) == []

    # Every image has loaded (the figures, the local Colab badge).
    page.evaluate("""() => Promise.all([...document.images].map(img => {
        img.loading = 'eager'; return img.decode().catch(() => null); }))""")
    images = page.evaluate("() => [...document.images].map(i => [i.src, i.naturalWidth])")
    assert images and [src for src, width in images if width == 0] == []

    # A folded solution stays folded until it is clicked.
    if name != "index":
        details = page.locator("article details").first
        content = details.locator(":scope > :not(summary)").first
        assert details.evaluate("d => d.open") is False and not content.is_visible()
        details.locator("summary").click()
        assert details.evaluate("d => d.open") is True and content.is_visible()
        details.locator("summary").click()  # folded again for the screenshot

    SCREENSHOTS.mkdir(exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name.replace('/', '_')}.png"))
    assert problems == []
