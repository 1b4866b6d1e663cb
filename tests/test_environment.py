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
