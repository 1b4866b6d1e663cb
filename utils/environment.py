"""The first call of every notebook: choose TensorFlow's settings, seed, and say what this run is
running on.

``setup()`` must run before anything imports keras or tensorflow (every notebook's second code
cell starts with it), because TensorFlow reads its settings from environment variables once, at
import. It then

- turns on oneDNN, TensorFlow's fast CPU kernels, unless the learner set ``TF_ENABLE_ONEDNN_OPTS``
  (TensorFlow itself turns them on only on some Intel CPUs; on others they were 1.2-1.5x faster
  for the course's LSTMs, see benchmarks/);
- makes Keras use TensorFlow, and says so clearly when ``KERAS_BACKEND`` asks for another backend;
- keeps TensorFlow's start-up log lines (the oneDNN notice, "Could not find cuda drivers",
  "failed call to cuInit" on a machine without a GPU) out of the notebook, and lets every other
  line through;
- warns when TensorFlow or Keras is older than the course supports (the minimums of the installed
  ``lstm-course`` package, from pyproject.toml);
- seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``),

and prints the versions, the devices, whether oneDNN and the fused cuDNN LSTM kernel are in use,
and the active run profile. It returns the same facts as a record, so a cell can assert on them.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass

from . import __version__, profiles

DEFAULT_SEED = 42
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
PACKAGE = "lstm-course"
# What TensorFlow writes straight to the process's stderr while it starts, none of it actionable:
# the summary printed by setup() states the same facts (oneDNN on or off, no GPU found).
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are (on|off)"
    r"|Could not find cuda drivers on your machine"
    r"|failed call to cuInit"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
)


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
    onednn: bool = False
    onednn_source: str = "TensorFlow's default for this CPU"

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
                f"oneDNN CPU kernels: {'on' if self.onednn else 'off'} ({self.onednn_source})",
                f"cuDNN LSTM kernel: {cudnn}",
                f"Random seed: {self.seed} (Python, NumPy and TensorFlow)",
            ]
        )


def check_keras_backend() -> None:
    """Make Keras use TensorFlow, or say why it cannot, before keras is imported.

    An explicit ``KERAS_BACKEND`` other than tensorflow is an error with the fix in the message
    (importing keras would otherwise fail with a bare "No module named 'jax'"); without it, the
    course sets tensorflow, which also overrides a backend chosen in ~/.keras/keras.json.
    """
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    imported = sys.modules.get("keras")
    if imported is not None and hasattr(imported, "backend"):
        backend = imported.backend.backend()  # too late to choose: say what keras runs on
    if backend != "tensorflow":
        raise RuntimeError(
            f"This course runs Keras on TensorFlow, but Keras is set to use {backend!r} "
            f"(KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '(unset)')}). Unset KERAS_BACKEND "
            "(or set it to 'tensorflow') and restart the kernel."
        )
    os.environ["KERAS_BACKEND"] = "tensorflow"


def choose_onednn() -> str:
    """Turn TensorFlow's oneDNN CPU kernels on unless the learner chose; say who decided.

    TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it is imported, so this only takes
    effect when nothing has imported tensorflow yet.
    """
    if ONEDNN_ENV in os.environ:
        return f"{ONEDNN_ENV}={os.environ[ONEDNN_ENV]} was set before setup()"
    if "tensorflow" in sys.modules:
        return (
            "TensorFlow's default for this CPU: tensorflow was imported before "
            "environment.setup(), so the course could not choose; run setup() first"
        )
    os.environ[ONEDNN_ENV] = "1"
    return f"turned on by the course; set {ONEDNN_ENV}=0 before setup() to turn it off"


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process (fixed at its import).

    TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` when it is imported; without it, 2.21 turns oneDNN
    on for some CPUs only (seen: on for AVX-512 Intel and AMD Zen 4, off for AVX2-only AMD EPYC).
    Without it, TensorFlow keeps no allocator statistics on the CPU and runs no native bfloat16.
    """
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


@contextlib.contextmanager
def startup_noise_filtered():
    """Run a block with the process's stderr (file descriptor 2) captured, then write back every
    line but TensorFlow's start-up noise (``STARTUP_NOISE``).

    TensorFlow's C++ code writes those lines to the descriptor itself, ignoring
    ``TF_CPP_MIN_LOG_LEVEL`` for the ones printed before its logging starts; in JupyterLab they
    show as a red box under the setup cell.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line for line in captured.read().decode(errors="replace").splitlines()
                if line.strip() and not STARTUP_NOISE.search(line)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ log lines below FATAL and its Python logs below ERROR, unless the
    learner set ``TF_CPP_MIN_LOG_LEVEL``.

    The C++ ERROR lines hidden this way are notices, not failures: with oneDNN on, a masked LSTM
    logs "oneDNN supports DT_BOOL only on platforms with AVX-512. Falling back to ..." on every
    run; a real failure still raises a Python exception. The C++ level is read when TensorFlow
    is imported, so call this before the first import.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import absl.logging
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")


def minimum_versions() -> dict[str, str]:
    """The lowest TensorFlow and Keras the installed course supports, as its package states them
    (``[project] dependencies`` in pyproject.toml), e.g. ``{"tensorflow": ">=2.18"}``."""
    from importlib import metadata

    from packaging.requirements import Requirement

    try:
        requires = metadata.requires(PACKAGE) or []
    except metadata.PackageNotFoundError:
        return {}  # utils imported from a folder that was never installed: nothing to compare
    found = {}
    for line in requires:
        requirement = Requirement(line)
        if requirement.name in ("tensorflow", "keras") and requirement.marker is None:
            found[requirement.name] = str(requirement.specifier)
    return found


def version_problems(installed: dict[str, str], required: dict[str, str]) -> list[str]:
    """One sentence for each package whose installed version the course does not support."""
    from packaging.specifiers import SpecifierSet

    return [
        f"{name} {installed[name]} is outside what this course supports ({name}{spec}); "
        "install a supported version (see the README) and restart the kernel."
        for name, spec in sorted(required.items())
        if name in installed and not SpecifierSet(spec).contains(installed[name], prereleases=True)
    ]


def setup(
    seed: int = DEFAULT_SEED, profile: str | None = None, verbose: bool = True
) -> Environment:
    """Prepare a notebook run: TensorFlow's settings, quiet logs, the profile, seeds; print the
    facts. Call it before anything imports keras or tensorflow."""
    check_keras_backend()
    onednn_source = choose_onednn()
    with startup_noise_filtered():
        quiet_tensorflow()
        import tensorflow as tf

        devices = tf.config.list_physical_devices()  # the first device query tries CUDA
    # Keras warns that fit's shuffle=True is ignored for a tf.data.Dataset; the course's datasets
    # shuffle themselves (utils.text.windows), so in every training cell it would only be noise.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed", category=UserWarning)
    import keras
    import numpy as np

    for problem in version_problems(
        {"tensorflow": tf.__version__, "keras": keras.__version__}, minimum_versions()
    ):
        warnings.warn(problem, stacklevel=2)
    if profile is not None:
        profiles.use_profile(profile)
    keras.utils.set_random_seed(seed)

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
        onednn=onednn_enabled(),
        onednn_source=onednn_source,
    )
    if verbose:
        print(env.report())
    return env
