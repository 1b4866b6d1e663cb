"""Re-run notebooks top to bottom in place and store their outputs (``make execute``).

Each notebook runs in a fresh kernel of this same Python environment, with ``COURSE_PROFILE`` set
to the chosen profile and the notebooks folder as working directory. The kernel does not capture
the C++ log lines that TensorFlow writes straight to the process's stderr, so they never end up
in the stored outputs. The run is recorded in the notebook's metadata (``lstm_course``: profile,
TensorFlow version, wall time, date), which the hygiene tests check, and the README's run-time
table is rewritten from it: a stored ``cpu`` run sets the notebook's cpu column, a ``smoke``
``--dry-run`` its smoke column (the README is generated, never typed). A notebook that fails is
left unchanged on disk.

    python tools/execute_notebooks.py --profile cpu notebooks/00_welcome.ipynb
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from importlib import metadata
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_template import KERNELSPEC, METADATA_KEY, format_duration  # noqa: E402

PROFILES = ("smoke", "cpu", "gpu")
README = Path(__file__).resolve().parent.parent / "README.md"
COLUMNS = {"cpu": -2, "smoke": -1}  # the run-time columns of the README's notebook table


def set_readme_time(readme: Path, notebook: str, profile: str, wall: float) -> None:
    """Write `wall` into `notebook`'s row of the README table, in the `profile` column."""
    lines = readme.read_text().split("\n")
    rows = [i for i, line in enumerate(lines)
            if line.startswith("|") and f"(notebooks/{notebook})" in line]
    if len(rows) != 1:
        raise ValueError(f"{readme} needs exactly one table row for {notebook}, found {len(rows)}")
    cells = lines[rows[0]].strip().strip("|").split("|")
    cells[COLUMNS[profile]] = f" {format_duration(wall)} "
    lines[rows[0]] = "|" + "|".join(cells) + "|"
    readme.write_text("\n".join(lines))


class CurrentEnvKernelManager(KernelManager):
    """A kernel started with this interpreter, whatever kernelspecs the user has installed."""

    @property
    def kernel_spec(self):
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=KERNELSPEC["display_name"],
            language="python",
        )


def execute(path: Path, profile: str, timeout: int, dry_run: bool = False) -> float:
    nb = nbformat.read(path, as_version=4)
    os.environ["COURSE_PROFILE"] = profile
    client = NotebookClient(
        nb,
        kernel_manager_class=CurrentEnvKernelManager,  # owned by the client: shut down after
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
        extra_arguments=["--IPKernelApp.capture_fd_output=False"],
    )
    started = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - started
    if dry_run:
        return wall
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata[METADATA_KEY] = {
        "profile": profile,
        "tensorflow": metadata.version("tensorflow"),
        "wall_time_s": round(wall, 1),
        "executed": dt.date.today().isoformat(),
    }
    nbformat.write(nb, path)
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--profile", choices=PROFILES, default="cpu")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--dry-run", action="store_true",
                        help="run and time the notebooks, but do not store anything")
    args = parser.parse_args()
    failed = []
    for path in args.notebooks:
        print(f"{path} ({args.profile}) ...", flush=True)
        try:
            wall = execute(path, args.profile, args.timeout, args.dry_run)
        except Exception as err:  # report every notebook, then fail
            print(f"  FAILED: {type(err).__name__}: {str(err)[-2000:]}", flush=True)
            failed.append(path)
            continue
        print(f"  ok in {format_duration(wall)}", flush=True)
        if (args.profile, args.dry_run) in (("cpu", False), ("smoke", True)):
            set_readme_time(README, path.name, args.profile, wall)
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(map(str, failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
