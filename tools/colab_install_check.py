"""Replay the notebooks' Colab setup cell in this environment and check what it changed.

The cell (tools/notebook_template.py, setup_cell_source()) must install the course without
touching the libraries Colab's running kernel is built on. This script runs the very command the
cell renders, with the git URL replaced by a local checkout, in the Python that runs this script,
and fails when any of KEPT changed version (or appeared, or went away):

    .venv-oldest/bin/python tools/colab_install_check.py [--checkout DIR]

CI runs it in .venv-oldest (the oldest TensorFlow and Keras the course supports, and a Colab-like
ipykernel 6), then the unit tests and notebooks there (make oldest).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_template import ROOT, colab_requirement, setup_cell_source  # noqa: E402

# What Colab's kernel and its TensorFlow run on: the install must leave these as they are.
KEPT = ("tensorflow", "numpy", "ipykernel", "jupyter_client", "tornado", "protobuf")
# Allowed to change (raised to the course's minimum when older); reported only.
REPORTED = ("keras", "matplotlib", "lstm-course")

_VERSIONS = """
import json, sys
from importlib.metadata import PackageNotFoundError, version
def v(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None
print(json.dumps({name: v(name) for name in sys.argv[1:]}))
"""


def installed_versions(names, python: str = sys.executable) -> dict[str, str | None]:
    """Versions of `names` in `python`'s environment (None when not installed), read afresh."""
    # -I: not the current directory's *.egg-info (a checkout's), as `python -c` would read.
    out = subprocess.run([python, "-I", "-c", _VERSIONS, *names], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def changes(before: dict, after: dict, kept=KEPT) -> list[str]:
    """One line per package of `kept` whose version differs between the two snapshots."""
    problems = []
    for name in kept:
        old, new = before.get(name), after.get(name)
        if old != new:
            problems.append(f"{name}: {old or 'not installed'} -> {new or 'removed'}")
    return problems


def cell_command() -> list[str]:
    """The argv the setup cell runs in Colab, captured by running the cell with Colab faked."""
    calls = []
    colab = {"google": types.ModuleType("google"), "google.colab": types.ModuleType("google.colab")}
    with mock.patch.dict(sys.modules, colab), \
            mock.patch("subprocess.run", lambda argv, **kw: calls.append(argv)):
        exec(setup_cell_source(), {"__name__": "__setup_cell__"})
    if len(calls) != 1:
        raise RuntimeError(f"the setup cell ran {len(calls)} commands in Colab, expected 1")
    return list(calls[0])


def replay_command(checkout: Path, python: str = sys.executable) -> list[str]:
    """The cell's command with its git requirement pointed at `checkout`, run by `python`."""
    argv = cell_command()
    remote = colab_requirement()
    if argv[:3] != [sys.executable, "-m", "pip"] or argv.count(remote) != 1:
        raise RuntimeError(f"the setup cell's command {argv} is not `python -m pip ... {remote!r}`")
    local = colab_requirement(checkout.resolve().as_uri())
    return [python, "-m", "pip", *[local if a == remote else a for a in argv[3:]]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the course to install")
    args = parser.parse_args(argv)
    names = KEPT + REPORTED
    before = installed_versions(names)
    command = replay_command(args.checkout)
    print("replaying the Colab setup cell:", " ".join(command), flush=True)
    # Not from the checkout: pip would take its lstm_course.egg-info for an installed course.
    subprocess.run(command, check=True, cwd=tempfile.gettempdir())
    after = installed_versions(names)
    for name in names:
        mark = "" if before[name] == after[name] else "  (changed)"
        print(f"  {name:15} {before[name] or '-':>12} -> {after[name] or '-'}{mark}")
    problems = changes(before, after)
    if problems:
        print("The Colab setup cell changed what Colab's kernel runs on:", *problems,
              sep="\n  ", file=sys.stderr)
        return 1
    print(f"ok: {', '.join(KEPT)} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
