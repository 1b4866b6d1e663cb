import math

import numpy as np
import pytest

from utils import grimm, language_model, speed


@pytest.fixture(scope="module")
def small_model():
    # Embedding 3 -> LSTM 5 -> LSTM 4 -> Dense 6 -> Dense 11 (logits)
    return language_model.build_model(11, embedding_dim=3, units=(5, 4), dense_units=6)


def test_matmul_flops_per_token_counts_two_flops_per_weight(small_model):
    counts = speed.matmul_flops_per_token(small_model)
    assert counts == {
        "lstm_1": 2 * 4 * 5 * (3 + 5),
        "lstm_2": 2 * 4 * 4 * (5 + 4),
        "hidden": 2 * 4 * 6,
        "logits": 2 * 6 * 11,
    }


def test_the_book_model_costs_about_six_megaflops_per_token():
    model = language_model.build_model(**grimm.BOOK)
    forward = sum(speed.matmul_flops_per_token(model).values())
    vocab, embedding = grimm.BOOK["vocab_size"], grimm.BOOK["embedding_dim"]
    (first, second), dense = grimm.BOOK["units"], grimm.BOOK["dense_units"]
    assert forward == 2 * (4 * first * (embedding + first) + 4 * second * (first + second)
                           + second * dense + dense * vocab)
    assert 6.0e6 < forward < 6.1e6


def test_generic_rnn_layers_are_counted_through_their_cell():
    import keras

    model = language_model.build_model(
        7, 2, (3,), None,
        recurrent=lambda n: keras.layers.RNN(keras.layers.LSTMCell(n), return_sequences=True),
    )
    counts = speed.matmul_flops_per_token(model)
    assert sum(counts.values()) == 2 * 4 * 3 * (2 + 3) + 2 * 3 * 7
    assert speed.recurrent_flops_per_token(model) == 2 * 3 * 4 * 3


def test_recurrent_flops_are_the_recurrent_kernels(small_model):
    assert speed.recurrent_flops_per_token(small_model) == 2 * 5 * 20 + 2 * 4 * 16


def test_a_model_without_kernels_is_an_error():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Activation("relu")])
    with pytest.raises(ValueError, match="no layer with a kernel"):
        speed.matmul_flops_per_token(model)


def test_elementwise_share_is_small_for_wide_layers():
    assert speed.elementwise_share(512, 96) < 0.02
    assert speed.elementwise_share(8, 8) == pytest.approx(58 / 128)
    with pytest.raises(ValueError, match="units must be an integer >= 1"):
        speed.elementwise_share(0, 8)


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
def test_matmul_flops_per_second_is_plausible(engine):
    flops = speed.matmul_flops_per_second(n=128, engine=engine, repeats=2)
    assert 1e6 < flops < 1e15  # loose: the CI machine may be busy


def test_bfloat16_matmul_runs_in_tensorflow():
    assert speed.matmul_flops_per_second(n=64, dtype="bfloat16", repeats=1) > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(engine="torch"), "engine must be 'tensorflow' or 'numpy'"),
        (dict(engine="numpy", dtype="bfloat16"), "dtype for engine='numpy'"),
        (dict(n=8), "n must be an integer >= 16"),
        (dict(repeats=0), "repeats must be an integer >= 1"),
    ],
)
def test_matmul_flops_per_second_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        speed.matmul_flops_per_second(**kwargs)


def test_matmul_ceiling_takes_the_best_measurement(monkeypatch):
    rates = {(64, "tensorflow"): 3.0, (64, "numpy"): 5.0, (128, "tensorflow"): 4.0,
             (128, "numpy"): 1.0}
    monkeypatch.setattr(speed, "matmul_flops_per_second",
                        lambda n, dtype, engine, repeats: rates[n, engine])
    assert speed.matmul_ceiling("float32", sizes=(64, 128)) == 5.0
    assert speed.matmul_ceiling("bfloat16", sizes=(64, 128)) == 4.0  # NumPy has no bfloat16
    assert speed.matmul_rates("float32", sizes=(64, 128)) == rates
    assert set(speed.matmul_rates("bfloat16", sizes=(64,))) == {(64, "tensorflow")}
    with pytest.raises(ValueError, match="sizes must name"):
        speed.matmul_ceiling(sizes=())


def test_step_timing_arithmetic():
    timing = speed.StepTiming(seconds=(0.5, 0.1, 0.2), tokens_per_step=1000, flops_per_step=4e9)
    assert timing.median == 0.2 and timing.best == 0.1 and timing.slowest == 0.5
    assert timing.median_tokens_per_second == pytest.approx(5_000)
    assert timing.tokens_per_second == pytest.approx(10_000)  # from the fastest step
    assert timing.flops_per_second == pytest.approx(4e10)
    assert timing.fraction_of(8e10) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="ceiling must be a positive"):
        timing.fraction_of(0)


def test_time_calls_warms_up_then_times_each_call():
    calls = []
    seconds = speed.time_calls(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and len(seconds) == 3
    assert all(s >= 0 for s in seconds)
    with pytest.raises(ValueError, match="warmup must be an integer >= 0"):
        speed.time_calls(lambda: None, warmup=-1)


def test_time_train_step_counts_tokens_and_training_flops(small_model):
    language_model.compile_model(small_model)
    x = np.zeros((4, 7), np.int32)
    timing = speed.time_train_step(small_model, x, x, repeats=2, warmup=1)
    forward = sum(speed.matmul_flops_per_token(small_model).values())
    assert timing.tokens_per_step == 28
    assert timing.flops_per_step == 3 * forward * 28
    assert len(timing.seconds) == 2 and timing.tokens_per_second > 0


def test_time_interleaved_takes_the_runs_in_turns():
    order = []
    seconds = speed.time_interleaved({"a": lambda: order.append("a"),
                                      "b": lambda: order.append("b")}, repeats=3, warmup=1)
    assert order == ["a", "b"] + ["a", "b"] * 3  # warm-ups first, then one of each per round
    assert {name: len(times) for name, times in seconds.items()} == {"a": 3, "b": 3}
    with pytest.raises(ValueError, match="runs must name"):
        speed.time_interleaved({})


def test_time_train_steps_times_several_shapes_in_turns(small_model):
    language_model.compile_model(small_model)
    short, long = np.zeros((4, 3), np.int32), np.zeros((4, 9), np.int32)
    timings = speed.time_train_steps({"short": (small_model, short, short),
                                      "long": (small_model, long, long)}, repeats=2)
    forward = sum(speed.matmul_flops_per_token(small_model).values())
    assert timings["short"].tokens_per_step == 12 and timings["long"].tokens_per_step == 36
    assert timings["long"].flops_per_step == 3 * forward * 36
    assert all(len(t.seconds) == 2 for t in timings.values())


def test_recurrent_dropout_turns_two_lstm_products_per_step_into_eight():
    import keras

    assert speed.cell_matmuls_per_step(keras.layers.LSTMCell(6), 4) == 2
    assert speed.cell_matmuls_per_step(keras.layers.LSTMCell(6, dropout=0.2), 4) == 2
    assert speed.cell_matmuls_per_step(keras.layers.LSTMCell(6, recurrent_dropout=0.2), 4) == 8
    assert speed.cell_matmuls_per_step(keras.layers.LSTMCell(6, implementation=1), 4) == 8
    assert speed.cell_matmuls_per_step(keras.layers.GRUCell(6), 4) == 2
    with pytest.raises(ValueError, match="input_dim must be an integer"):
        speed.cell_matmuls_per_step(keras.layers.LSTMCell(6), 0)


def test_bfloat16_detection_reads_the_cpu_flags():
    assert speed.cpu_has_bfloat16(frozenset({"avx512f", "avx512_bf16"}))
    assert speed.cpu_has_bfloat16(frozenset({"amx_bf16"}))
    assert not speed.cpu_has_bfloat16(frozenset({"avx2", "fma"}))
    assert isinstance(speed.cpu_has_bfloat16(), bool)


def test_mixed_precision_policy_per_device(monkeypatch):
    monkeypatch.setattr(speed.sys, "platform", "linux")
    assert speed.mixed_precision_policy(True)[0] == "mixed_float16"
    assert speed.mixed_precision_policy(True, frozenset(), onednn=False)[0] == "mixed_float16"
    assert speed.mixed_precision_policy(False, frozenset({"amx_bf16"}), onednn=True)[0] == (
        "mixed_bfloat16")
    policy, why = speed.mixed_precision_policy(False, frozenset({"avx2"}), onednn=True)
    assert policy is None and "no native bfloat16" in why
    # bfloat16 hardware, but TensorFlow reaches it only through oneDNN: emulated, so skipped
    policy, why = speed.mixed_precision_policy(False, frozenset({"avx512_bf16"}), onednn=False)
    assert policy is None and "oneDNN kernels are off" in why
    # by default the policy asks TensorFlow whether oneDNN is on in this process
    policy, _ = speed.mixed_precision_policy(False, frozenset({"amx_bf16"}))
    assert policy == ("mixed_bfloat16" if speed.onednn_enabled() else None)


def test_onednn_enabled_follows_the_environment_variable():
    import os

    import tensorflow as tf  # noqa: F401  (the setting is fixed when TensorFlow is imported)

    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if setting in ("0", "1"):
        assert speed.onednn_enabled() is (setting == "1")
    else:  # TensorFlow's own choice: on with AVX-512, off on AVX2-only CPUs
        assert isinstance(speed.onednn_enabled(), bool)


def test_cpu_allocator_statistics_exist_exactly_with_onednn():
    # The measured fact behind memory_needed's fallback (TensorFlow 2.21, no TF_CPU_ALLOCATOR_*).
    assert speed.allocator_stats_available("CPU:0") is speed.onednn_enabled()


def test_memory_needed_picks_the_allocator_where_tensorflow_has_statistics():
    used = speed.memory_needed(lambda: np.ones(16).sum())
    expected = "allocator" if speed.allocator_stats_available("CPU:0") else speed.rss_method()
    assert used.method == expected
    assert used.description == speed.MEMORY_METHODS[expected]
    assert used.bytes >= 0


def test_memory_needed_with_the_allocator_or_a_clear_refusal():
    import tensorflow as tf

    def measure():
        with tf.device("CPU:0"):
            held = tf.ones((1024, 1024))  # 4 MiB held before: not counted
            needed = speed.memory_needed(lambda: (tf.ones((2048, 1024)) * 2.0).numpy(),
                                         method="allocator")  # 8 MiB x 2
            small = speed.memory_needed(lambda: (tf.ones((16, 16)) * 2.0).numpy(),
                                        method="allocator")
            del held
        return needed, small

    if speed.allocator_stats_available("CPU:0"):
        needed, small = measure()
        assert needed.method == small.method == "allocator" and needed.is_peak
        assert 16 * 2**20 <= needed.bytes < 20 * 2**20
        assert 0 <= small.bytes < 2**20
    else:  # asked for explicitly, a missing allocator is an error that says what to do
        with pytest.raises(ValueError, match="no allocator statistics.*method='auto'"):
            measure()


def _allocate(mebibytes, seconds=0.02):
    """Allocate and touch `mebibytes`, keep them a moment (for the sampler), free them."""
    import time

    block = np.ones(max(1, mebibytes * 2**20 // 8))
    time.sleep(seconds)
    return float(block[-1])


@pytest.mark.parametrize("method", ["peak-rss", "sampled-rss"])
def test_memory_needed_by_resident_memory_sees_the_peak_of_a_call(method):
    # The fallback, forced: it works whether or not oneDNN (and so the allocator) is there.
    import sys

    if not sys.platform.startswith("linux"):
        with pytest.raises(ValueError, match="does not work on this machine"):
            speed.memory_needed(lambda: _allocate(64), method=method)
        return
    if method == "peak-rss" and speed.rss_method() != "peak-rss":  # /proc/self/clear_refs refused
        with pytest.raises(ValueError, match="does not work on this machine"):
            speed.memory_needed(lambda: _allocate(64), method=method)
        return
    for _ in range(2):  # the second time, the freed pages must count again
        needed = speed.memory_needed(lambda: _allocate(64), method=method)
        assert needed.method == method and needed.is_peak
        assert 60 * 2**20 <= needed.bytes < 72 * 2**20
    small = speed.memory_needed(lambda: _allocate(0), method=method)
    assert 0 <= small.bytes < 4 * 2**20
    assert small < needed  # records order by bytes


def test_memory_needed_by_lifetime_peak_is_a_lower_bound():
    needed = speed.memory_needed(lambda: _allocate(64, seconds=0), method="max-rss")
    assert needed.method == "max-rss" and not needed.is_peak
    assert 0 <= needed.bytes < 72 * 2**20  # zero when the process peaked higher before


def test_memory_needed_never_fails_in_auto_mode_where_nothing_measures(monkeypatch):
    # Windows: no allocator statistics on its CPU, no /proc, no getrusage.
    monkeypatch.setattr(speed, "allocator_stats_available", lambda device: False)
    monkeypatch.setattr(speed, "_reset_peak_rss", lambda: False)
    monkeypatch.setattr(speed, "_can_read_rss", lambda: False)
    monkeypatch.setattr(speed, "_has_getrusage", lambda: False)
    calls = []
    used = speed.memory_needed(lambda: calls.append(1))
    assert calls == [1] and used == speed.MemoryUse(0, "unmeasured") and not used.is_peak
    with pytest.raises(ValueError, match="'max-rss' does not work on this machine"):
        speed.memory_needed(lambda: None, method="max-rss")


def test_memory_needed_rejects_unknown_methods():
    with pytest.raises(ValueError, match="method must be 'auto' or one of 'allocator'"):
        speed.memory_needed(lambda: None, method="psutil")


def test_load_average_is_a_number():
    load = speed.load_average()
    assert isinstance(load, float) and (load >= 0 or math.isnan(load))


def test_naive_batches_cut_consecutive_windows_shuffled_by_seed():
    tokens = [f"t{i}" for i in range(50)]
    token_ids = {token: i for i, token in enumerate(tokens)}  # id = position in the stream
    batches = speed.naive_batches(tokens, token_ids, seq_len=4, batch_size=3, seed=1)
    x, y = next(batches)
    assert x.shape == y.shape == (3, 4) and x.dtype == np.int32
    np.testing.assert_array_equal(y, x + 1)  # the target is the next token
    np.testing.assert_array_equal(x, x[:, :1] + np.arange(4))  # consecutive tokens
    assert all(start % 4 == 0 for start in x[:, 0])  # windows start every seq_len tokens
    epoch = np.concatenate([x[:, 0]] + [next(batches)[0][:, 0] for _ in range(3)])
    assert sorted(epoch) == list(range(0, 48, 4))  # one pass sees each of the 12 windows once
    again = next(speed.naive_batches(tokens, token_ids, seq_len=4, batch_size=3, seed=1))
    np.testing.assert_array_equal(again[0], x)  # seeded
    other = next(speed.naive_batches(tokens, token_ids, seq_len=4, batch_size=3, seed=2))
    assert not np.array_equal(other[0], x)


def test_naive_batches_reject_too_little_text():
    with pytest.raises(ValueError, match="fewer windows than batch_size=5"):
        next(speed.naive_batches(["a"] * 10, {"a": 0}, seq_len=4, batch_size=5))
