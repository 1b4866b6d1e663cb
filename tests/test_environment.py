import numpy as np
import pytest

from utils import environment, profiles


@pytest.fixture(autouse=True)
def reset_profile():
    yield
    profiles.use_profile(None)


def test_setup_reports_versions_devices_and_profile(capsys):
    import keras
    import tensorflow as tf

    env = environment.setup(seed=7, profile="smoke")
    out = capsys.readouterr().out
    assert env.profile == "smoke" and profiles.active_profile() == "smoke"
    assert env.tensorflow == tf.__version__ and env.keras == keras.__version__
    assert env.keras_backend == "tensorflow"
    assert "CPU:0" in env.devices
    assert env.cudnn_lstm == bool(tf.config.list_physical_devices("GPU"))
    for text in ("run profile: smoke", f"TensorFlow {tf.__version__}", "cuDNN LSTM kernel",
                 "Devices:", "Random seed: 7"):
        assert text in out


def test_setup_seeds_numpy_and_tensorflow(capsys):
    import tensorflow as tf

    environment.setup(seed=3, verbose=False)
    first = np.random.rand(3), tf.random.uniform((3,)).numpy()
    environment.setup(seed=3, verbose=False)
    second = np.random.rand(3), tf.random.uniform((3,)).numpy()
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert capsys.readouterr().out == ""


def test_setup_rejects_unknown_profile():
    with pytest.raises(ValueError, match="Unknown run profile"):
        environment.setup(profile="huge", verbose=False)


def test_report_without_gpu_explains_the_generic_kernel():
    env = environment.Environment(
        profile="cpu", seed=1, python="3.11", tensorflow="2.21.0", keras="3.15.1",
        keras_backend="tensorflow", numpy="2.4", devices=("CPU:0",), gpus=(),
        built_with_cuda=True,
    )
    assert not env.cudnn_lstm
    assert "no GPU" in env.report()
    with_gpu = environment.Environment(**{**env.__dict__, "gpus": ("/physical_device:GPU:0",)})
    assert with_gpu.cudnn_lstm and "fused cuDNN kernel" in with_gpu.report()


def _setup_in_a_new_process(root, **env_vars):
    """environment.setup() in a fresh interpreter, as a notebook's setup cell runs it: returns
    (stdout, stderr) as the process wrote them, C++ output included."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS",
                                                           "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}
    env.update(env_vars)
    code = "from utils import environment\nenv = environment.setup(profile='smoke')\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_setup_turns_onednn_on_unless_the_learner_chose(root):
    code, out, err = _setup_in_a_new_process(root)
    assert code == 0, err
    assert "oneDNN CPU kernels: on (turned on by the course" in out
    code, out, err = _setup_in_a_new_process(root, TF_ENABLE_ONEDNN_OPTS="0")
    assert code == 0, err
    assert "oneDNN CPU kernels: off (TF_ENABLE_ONEDNN_OPTS=0 was set before setup())" in out


def test_setup_keeps_tensorflow_startup_noise_out_of_the_notebook(root):
    """No oneDNN notice, no 'Could not find cuda drivers', no 'failed call to cuInit' box under
    the setup cell (on a CPU-only machine TensorFlow writes all three to stderr)."""
    code, _, err = _setup_in_a_new_process(root)
    assert code == 0 and err == "", err


def test_startup_filter_lets_other_stderr_lines_through(capfd):
    import os

    with environment.startup_noise_filtered():
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see ...\n")
        os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
        os.write(2, b"E0000 something.cc:1] a real problem\n")
    assert capfd.readouterr().err == "E0000 something.cc:1] a real problem\n"


def test_another_keras_backend_gets_the_course_message_not_an_import_error(root):
    code, _, err = _setup_in_a_new_process(root, KERAS_BACKEND="jax")
    assert code != 0
    assert "This course runs Keras on TensorFlow" in err and "KERAS_BACKEND=jax" in err
    assert "No module named" not in err


def test_version_problems_name_what_is_too_old():
    required = {"tensorflow": ">=2.18", "keras": "<4,>=3.8"}
    assert environment.version_problems({"tensorflow": "2.21.0", "keras": "3.15.1"},
                                        required) == []
    problems = environment.version_problems({"tensorflow": "2.16.1", "keras": "3.15.1"},
                                            required)
    assert len(problems) == 1 and problems[0].startswith("tensorflow 2.16.1 is outside")
    assert "tensorflow>=2.18" in problems[0]
    assert len(environment.version_problems({"tensorflow": "2.21.0", "keras": "4.0.0"},
                                            required)) == 1


def test_minimum_versions_come_from_the_installed_package():
    from importlib import metadata

    required = environment.minimum_versions()
    assert set(required) == {"tensorflow", "keras"}
    import tensorflow as tf

    assert environment.version_problems({"tensorflow": tf.__version__}, required) == []
    assert metadata.version(environment.PACKAGE)


def test_a_keras_json_asking_for_jax_does_not_stop_the_course(root, tmp_path):
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')
    code, out, err = _setup_in_a_new_process(root, KERAS_HOME=str(tmp_path))
    assert code == 0, err
    assert "(backend: tensorflow)" in out


def test_setup_and_training_show_no_stderr_in_a_jupyter_kernel(root, monkeypatch):
    """The setup cell as JupyterLab runs it: a kernel that captures the process's stderr, so
    TensorFlow's C++ lines would appear under the cell as a red box."""
    monkeypatch.delenv("PYTEST_CURRENT_TEST")  # ipykernel captures no stderr under pytest
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)  # the course's default: on
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from utils import environment\n\nenv = environment.setup(profile='smoke')"
    ), nbformat.v4.new_code_cell(  # with oneDNN on, masks log a C++ 'DT_BOOL' notice
        "import keras\nimport numpy as np\n\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Embedding(5, 2, "
        "mask_zero=True), keras.layers.LSTM(2)])\n"
        "model.compile('adam', 'mse')\n"
        "_ = model.fit(np.array([[1, 2, 0]]), np.zeros((1, 2)), verbose=0)\n"
        "import time\n\ntime.sleep(1)  # the kernel forwards the process's stderr from a thread"
    )])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(root)}}).execute()
    outputs = nb.cells[0].outputs
    assert [o.get("name") for o in outputs if o.output_type == "stream"] == ["stdout"], outputs
    assert "oneDNN CPU kernels: on" in outputs[0]["text"]
    assert nb.cells[1].outputs == [], nb.cells[1].outputs
