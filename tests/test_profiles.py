import pytest

from utils import profiles

TABLE = dict(
    smoke=dict(epochs=1, batch_size=8),
    cpu=dict(epochs=10, batch_size=64),
    gpu=dict(epochs=50, batch_size=256),
)


@pytest.fixture(autouse=True)
def clean_profile(monkeypatch):
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)
    profiles.use_profile(None)
    yield
    profiles.use_profile(None)


def test_environment_variable_chooses_profile(monkeypatch):
    for name in profiles.PROFILES:
        monkeypatch.setenv(profiles.ENV_VAR, name)
        assert profiles.active_profile() == name
    monkeypatch.setenv(profiles.ENV_VAR, " CPU ")
    assert profiles.active_profile() == "cpu"


def test_without_variable_the_hardware_decides():
    assert profiles.active_profile(detect_gpu=lambda: True) == "gpu"
    assert profiles.active_profile(detect_gpu=lambda: False) == "cpu"


def test_default_detection_uses_tensorflow():
    import tensorflow as tf

    expected = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    assert profiles.active_profile() == expected


def test_notebook_override_beats_environment(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "gpu")
    assert profiles.use_profile("smoke") == "smoke"
    assert profiles.active_profile() == "smoke"
    profiles.use_profile(None)
    assert profiles.active_profile() == "gpu"


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "laptop")
    with pytest.raises(ValueError, match="'laptop'.*smoke, cpu, gpu"):
        profiles.active_profile()
    with pytest.raises(ValueError, match="Unknown run profile 'tpu'"):
        profiles.use_profile("tpu")


def test_sizes_picks_the_active_row(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "smoke")
    cfg = profiles.sizes(**TABLE)
    assert cfg.profile == "smoke"
    assert (cfg.epochs, cfg.batch_size) == (1, 8)
    assert cfg["epochs"] == 1
    assert dict(cfg) == TABLE["smoke"]
    assert repr(cfg) == "Sizes[smoke](epochs=1, batch_size=8)"


def test_sizes_explicit_profile_and_pick(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "smoke")
    assert profiles.sizes(**TABLE, profile="gpu").batch_size == 256
    assert profiles.pick(smoke=1, cpu=2, gpu=3) == 1
    assert profiles.pick(smoke=1, cpu=2, gpu=3, profile="cpu") == 2


def test_sizes_are_read_only_and_name_missing_keys(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "cpu")
    cfg = profiles.sizes(**TABLE)
    with pytest.raises(AttributeError, match="No size 'seq_len'.*epochs, batch_size"):
        _ = cfg.seq_len
    with pytest.raises(TypeError):
        cfg["epochs"] = 3


def test_every_profile_must_set_the_same_sizes():
    bad = dict(TABLE, gpu=dict(epochs=50))
    with pytest.raises(ValueError, match="'gpu' names sizes \\['epochs'\\]"):
        profiles.sizes(**bad, profile="cpu")


def test_sizes_table_needs_all_profiles():
    with pytest.raises(TypeError):
        profiles.sizes(smoke={}, cpu={})  # gpu missing
