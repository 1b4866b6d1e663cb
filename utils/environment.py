"""The first call of every notebook: seed, quiet logs, and say what this run is running on.

``setup()`` seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``), hides
TensorFlow's C++ info logs, and prints the versions, the devices, whether the fused cuDNN LSTM
kernel can be used, and the active run profile. It returns the same facts as a record, so a cell
can assert on them.
"""

from __future__ import annotations

import os
import platform
import warnings
from dataclasses import dataclass

from . import __version__, profiles

DEFAULT_SEED = 42


@dataclass(frozen=True)
class Environment:
    profile: str
    seed: int
    python: str
    tensorflow: str
    keras: str
    keras_backend: str
    numpy: str
    devices: tuple[str, ...]
    gpus: tuple[str, ...]
    built_with_cuda: bool

    @property
    def cudnn_lstm(self) -> bool:
        """Whether keras.layers.LSTM can run its fused cuDNN kernel here (GPU and CUDA build)."""
        return bool(self.gpus) and self.built_with_cuda

    def report(self) -> str:
        gpu_note = "a GPU was found" if self.gpus else "no GPU found"
        if self.cudnn_lstm:
            cudnn = (
                "yes: keras.layers.LSTM runs the fused cuDNN kernel with its default arguments "
                "(tanh/sigmoid activations, no recurrent dropout, unroll=False, use_bias=True, "
                "right-padded masks)"
            )
        elif self.gpus:
            cudnn = "no: this TensorFlow build has no CUDA support"
        else:
            cudnn = "no: no GPU, so Keras runs its generic LSTM loop (correct, slower)"
        return "\n".join(
            [
                f"LSTM Course {__version__}, run profile: {self.profile} "
                f"(set ${profiles.ENV_VAR} or call profiles.use_profile() to change; {gpu_note})",
                f"Python {self.python} | TensorFlow {self.tensorflow} | Keras {self.keras} "
                f"(backend: {self.keras_backend}) | NumPy {self.numpy}",
                f"Devices: {', '.join(self.devices)}",
                f"cuDNN LSTM kernel: {cudnn}",
                f"Random seed: {self.seed} (Python, NumPy and TensorFlow)",
            ]
        )


def quiet_tensorflow() -> None:
    """Hide TensorFlow's info and warning logs (C++ and Python); errors still show.

    The C++ level is read when TensorFlow is imported, so call this before the first import.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import absl.logging
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")


def setup(
    seed: int = DEFAULT_SEED, profile: str | None = None, verbose: bool = True
) -> Environment:
    """Prepare a notebook run: quiet logs, pick the profile, seed everything, print the facts."""
    quiet_tensorflow()
    # Keras warns that fit's shuffle=True is ignored for a tf.data.Dataset; the course's datasets
    # shuffle themselves (utils.text.windows), so in every training cell it would only be noise.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed", category=UserWarning)
    import keras
    import numpy as np
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"This course runs Keras on TensorFlow, but Keras uses {keras.backend.backend()!r}. "
            "Unset KERAS_BACKEND (or set it to 'tensorflow') and restart the kernel."
        )
    if profile is not None:
        profiles.use_profile(profile)
    keras.utils.set_random_seed(seed)

    devices = tf.config.list_physical_devices()
    env = Environment(
        profile=profiles.active_profile(),
        seed=seed,
        python=platform.python_version(),
        tensorflow=tf.__version__,
        keras=keras.__version__,
        keras_backend=keras.backend.backend(),
        numpy=np.__version__,
        devices=tuple(d.name.replace("/physical_device:", "") for d in devices),
        gpus=tuple(d.name for d in devices if d.device_type == "GPU"),
        built_with_cuda=tf.test.is_built_with_cuda(),
    )
    if verbose:
        print(env.report())
    return env
