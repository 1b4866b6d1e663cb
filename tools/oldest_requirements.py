"""The oldest environment the course claims to support, derived from pyproject.toml.

Prints one requirement per line: every run-time dependency ([project] dependencies) at its minimum
release (`tensorflow>=2.16` gives `tensorflow==2.16.*`: the oldest minor release, with its latest
patch, since TensorFlow 2.16.0 was never released), then what makes the environment look like
Colab's (its older kernel):

    pip install $(python tools/oldest_requirements.py) -e ".[test]"

`make oldest` builds .venv-oldest from this, replays the Colab setup cell there
(tools/colab_install_check.py) and runs the unit tests and every notebook under the smoke profile.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
# Not course dependencies: Colab's own kernel (ipykernel 6.17 when this was measured), so the
# notebooks also run under an ipykernel 6 in CI.
COLAB_LIKE = ("ipykernel==6.17.1",)

_FLOOR = re.compile(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9.]*)\s*(?:,\s*<\s*[0-9][0-9.]*)?$")


def floor(requirement: str) -> str:
    """'keras>=3.5,<4' -> 'keras==3.5.*'; anything but a plain minimum (and cap) is an error."""
    match = _FLOOR.match(requirement.strip())
    if not match:
        raise ValueError(f"{requirement!r}: a run-time dependency must be 'name>=X' or "
                         "'name>=X,<Y' (pins go in the `pinned` extra)")
    return f"{match[1]}=={match[2]}.*"


def runtime_dependencies(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]


def oldest_requirements() -> list[str]:
    return [floor(r) for r in runtime_dependencies()] + list(COLAB_LIKE)


if __name__ == "__main__":
    print("\n".join(oldest_requirements()))
    sys.exit(0)
