import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from execute_notebooks import set_readme_time  # noqa: E402

TABLE = """intro
| # | notebook | topic | Colab | cpu | smoke |
|---|---|---|---|---|---|
| 06 | [Text](notebooks/06_text.ipynb) | words | badge | 9 min 00 s | 33 s |
| 07 | [Decoding](notebooks/07_decoding.ipynb) | more | badge | 1 min 02 s | 16 s |
outro"""


def test_a_run_time_goes_into_its_own_row_and_column(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(TABLE)
    set_readme_time(readme, "06_text.ipynb", "cpu", 611.0)
    set_readme_time(readme, "07_decoding.ipynb", "smoke", 21.4)
    lines = readme.read_text().split("\n")
    assert lines[3] == ("| 06 | [Text](notebooks/06_text.ipynb) | words | badge | 10 min 11 s "
                        "| 33 s |")
    assert lines[4].endswith("| 1 min 02 s | 21 s |")
    assert lines[0] == "intro" and lines[-1] == "outro"


def test_a_notebook_without_a_row_is_an_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(TABLE)
    with pytest.raises(ValueError, match="one table row for 99_new.ipynb, found 0"):
        set_readme_time(readme, "99_new.ipynb", "cpu", 1.0)
