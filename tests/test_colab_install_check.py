"""tools/colab_install_check.py: the CI check that the Colab setup cell keeps Colab's stack."""

from pathlib import Path

from colab_install_check import KEPT, cell_command, changes, replay_command
from notebook_template import colab_requirement

COLAB = {"tensorflow": "2.19.0", "numpy": "2.0.2", "ipykernel": "6.17.1",
         "jupyter_client": "6.1.12", "tornado": "6.4.2", "protobuf": "5.29.5", "keras": "3.8.0"}


def test_no_change_passes():
    assert changes(COLAB, dict(COLAB)) == []


def test_an_upgraded_tensorflow_or_kernel_fails():
    after = dict(COLAB, tensorflow="2.21.0", tornado="6.6.1")
    assert changes(COLAB, after) == ["tensorflow: 2.19.0 -> 2.21.0", "tornado: 6.4.2 -> 6.6.1"]


def test_installed_or_removed_counts_as_a_change():
    before = {k: v for k, v in COLAB.items() if k != "protobuf"}
    assert changes(before, COLAB) == ["protobuf: not installed -> 5.29.5"]
    assert changes(COLAB, dict(COLAB, ipykernel=None)) == ["ipykernel: 6.17.1 -> removed"]


def test_keras_may_rise_to_the_minimum():
    assert "keras" not in KEPT
    assert changes(COLAB, dict(COLAB, keras="3.15.1")) == []
    assert {"tensorflow", "ipykernel", "jupyter_client", "tornado", "protobuf"} <= set(KEPT)


def test_the_replay_runs_the_cells_own_command_against_the_checkout(tmp_path):
    cell = cell_command()
    assert cell[-1] == colab_requirement()
    assert not {"-U", "--upgrade", "--force-reinstall", "--upgrade-strategy"} & set(cell)
    replay = replay_command(tmp_path, python="/x/python")
    assert replay[:3] == ["/x/python", "-m", "pip"]
    assert replay[3:-1] == cell[3:-1]
    assert replay[-1] == f"lstm-course @ {Path(tmp_path).resolve().as_uri()}"
