"""Build the course's website into _site/ from the stored notebooks (`make site`).

Lays out the sources in build/site/src (the notebooks in course order and a landing page made from
README.md, with a hidden table of contents that gives the sidebar and the previous/next links),
then runs Sphinx with site/conf.py, warnings as errors. Nothing is executed and nothing is
downloaded; the result is a static folder that works offline (open _site/index.html).

    python tools/build_site.py [--out _site]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "site"
WORK_DIR = ROOT / "build" / "site"
DEFAULT_OUT = ROOT / "_site"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
# A Markdown image with a relative path: ![alt](path)
LOCAL_IMAGE = re.compile(r"!\[[^\]]*\]\((?!https?:)([^)\s]+)\)")


def notebooks() -> list[Path]:
    """The course's notebooks in course order (their numbers)."""
    return sorted((ROOT / "notebooks").glob(NOTEBOOK_GLOB))


def landing_page(readme: str, pages: list[str]) -> str:
    """README.md as it is, then the table of contents the sidebar is made from."""
    toctree = "\n".join(["```{toctree}", ":hidden:", ":caption: Notebooks", ":maxdepth: 1", "",
                         *pages, "```"])
    return f"{readme.rstrip()}\n\n{toctree}\n"


def lay_out_sources(src: Path, notebook_paths: list[Path], readme: str) -> None:
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    for path in notebook_paths:
        shutil.copy2(path, src / "notebooks" / path.name)
    (src / "_badge").mkdir()
    shutil.copy2(CONF_DIR / "_static" / "colab-badge.svg", src / "_badge" / "colab-badge.svg")
    for image in LOCAL_IMAGE.findall(readme):
        if (ROOT / image).is_file():
            (src / image).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / image, src / image)
    pages = [f"notebooks/{path.stem}" for path in notebook_paths]
    (src / "index.md").write_text(landing_page(readme, pages), encoding="utf-8")


def build(out: Path = DEFAULT_OUT, work_dir: Path = WORK_DIR,
          notebook_paths: list[Path] | None = None, readme: str | None = None) -> Path:
    """A clean build of the site into `out`; raises SystemExit when Sphinx reports a warning.

    `notebook_paths` and `readme` replace the course's own (tests build small sites with them).
    """
    from sphinx.cmd.build import build_main

    if readme is None:
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
    src = work_dir / "src"
    lay_out_sources(src, notebooks() if notebook_paths is None else notebook_paths, readme)
    # Sphinx writes into work_dir/html (MyST-NB puts the outputs' image files beside it, in
    # work_dir/jupyter_execute), then the finished site replaces `out`.
    html = work_dir / "html"
    if html.exists():
        shutil.rmtree(html)
    status = build_main(["-b", "html", "-W", "--keep-going", "-q", "-E", "-c", str(CONF_DIR),
                         "-d", str(work_dir / "doctrees"), str(src), str(html)])
    if status != 0:
        raise SystemExit(f"the site did not build (Sphinx exit status {status})")
    if out.exists():
        shutil.rmtree(out)
    shutil.move(html, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (_site)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = build(args.out.resolve())
    pages = len(list(out.glob("**/*.html"))) - len(list(out.glob("_*/**/*.html")))
    print(f"built {pages} pages into {out} in {time.perf_counter() - start:.1f} s; "
          f"open {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
