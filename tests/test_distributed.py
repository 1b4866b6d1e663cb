import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from utils import distributed


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead too
        return stat.read().split(")")[-1].split()[0] != "Z"


@pytest.fixture
def taken_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_free_ports_are_distinct_and_bindable():
    ports = distributed.free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:
        distributed.check_port_free(port)


def test_check_port_free_names_a_taken_port(taken_port):
    with pytest.raises(distributed.PortInUseError, match=f"port {taken_port} is already in use"):
        distributed.check_port_free(taken_port)


@pytest.mark.parametrize("bad", [0, 65536, -1, 1.5, True])
def test_check_port_free_rejects_impossible_ports(bad):
    with pytest.raises(ValueError, match="port must be an integer"):
        distributed.check_port_free(bad)


def test_tf_config_describes_the_local_cluster():
    config = json.loads(distributed.tf_config([2001, 2002], 1))
    assert config == {
        "cluster": {"worker": ["127.0.0.1:2001", "127.0.0.1:2002"]},
        "task": {"type": "worker", "index": 1},
    }
    with pytest.raises(ValueError, match=r"index must be in \[0, 2\)"):
        distributed.tf_config([2001, 2002], 2)


def test_workers_run_with_their_tf_config_and_finish_cleanly():
    code = (
        "import json, os, sys\n"
        "task = json.loads(os.environ['TF_CONFIG'])['task']\n"
        "print('worker', task['index'])\n"
        "print('done', file=sys.stderr)\n"
    )
    with distributed.Workers(lambda i: python(code), n=2, timeout=30) as workers:
        results = workers.wait()
        processes = workers.processes
    assert [r.index for r in results] == [0, 1]
    assert [r.stdout.strip() for r in results] == ["worker 0", "worker 1"]
    assert all(r.returncode == 0 and r.stderr.strip() == "done" for r in results)
    assert all(p.poll() == 0 for p in processes)
    assert workers._logs is None  # the log folder is removed on exit


def test_run_workers_uses_the_given_ports():
    ports = distributed.free_ports(2)
    code = "import json, os; print(json.loads(os.environ['TF_CONFIG'])['cluster']['worker'])"
    results = distributed.run_workers(lambda i: python(code), n=2, ports=ports, timeout=30)
    assert str([f"127.0.0.1:{p}" for p in ports]) in results[0].stdout


def test_a_taken_port_is_reported_before_any_worker_starts(taken_port):
    free = distributed.free_ports(1)[0]
    workers = distributed.Workers(lambda i: python("pass"), n=2, ports=[free, taken_port])
    with pytest.raises(distributed.PortInUseError, match=str(taken_port)), workers:
        pass
    assert workers.processes == []


def test_a_dying_worker_is_reported_and_the_others_are_stopped():
    def command(index):
        if index == 1:
            return python("import sys; print('loading data', file=sys.stderr); "
                          "sys.exit('out of memory: boom')")
        return python("import time; time.sleep(60)")

    started = time.monotonic()
    workers = distributed.Workers(command, n=2, timeout=60)
    with pytest.raises(distributed.WorkerFailedError) as failure, workers:
        workers.wait()
    assert time.monotonic() - started < 20  # did not wait for the sleeping worker
    err = failure.value
    assert (err.index, err.returncode) == (1, 1)
    assert "worker 1 exited with code 1" in str(err)
    assert "loading data" in err.stderr_tail and "boom" in err.stderr_tail
    assert not any(alive(p.pid) for p in workers.processes)


def test_a_timeout_stops_every_worker():
    workers = distributed.Workers(lambda i: python("import time; time.sleep(60)"), n=2, timeout=0.5)
    with pytest.raises(TimeoutError, match=r"worker\(s\) \[0, 1\] still running after 0.5 s"), \
            workers:
        workers.wait()
    assert not any(alive(p.pid) for p in workers.processes)


def test_leaving_the_block_stops_workers_and_their_children(tmp_path):
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    workers = distributed.Workers(lambda i: python(code), n=1, timeout=60)
    with pytest.raises(KeyboardInterrupt), workers:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the worker never started its child"
            time.sleep(0.05)
        raise KeyboardInterrupt  # as if the notebook's cell were interrupted
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
    assert not alive(workers.processes[0].pid)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n=0), "n must be an integer >= 1"),
        (dict(n=2, ports=[2001]), "one port per worker"),
        (dict(n=1, timeout=0), "timeout must be a positive number"),
    ],
)
def test_workers_reject_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        distributed.Workers(lambda i: python("pass"), **kwargs)


def test_worker_program_refuses_to_run_without_tf_config(monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(SystemExit):
        distributed.main(["train", "--data", "d.npz", "--out", "o.json", "--model", "{}",
                          "--global-batch", "4", "--steps", "1"])
    assert "TF_CONFIG is not set" in capsys.readouterr().err


def test_worker_command_round_trips_through_the_parser():
    command = distributed.worker_command("d.npz", "o.json", {"vocab_size": 5}, 8, 3, 0.01, 7)
    assert command[:3] == [sys.executable, "-m", "utils.distributed"]
    assert json.loads(command[command.index("--model") + 1]) == {"vocab_size": 5}
    assert command[command.index("--learning-rate") + 1] == "0.01"


TINY = dict(vocab_size=12, embedding_dim=4, units=[8], dense_units=None)


def tiny_data(n=16, length=5):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 12, (n, length)).astype("int32")
    return x, (x + 1) % 12  # learnable: the next id


def test_fit_and_the_custom_loop_train_identically_and_deterministically():
    x, y = tiny_data()
    fitted = distributed.fit_steps(x, y, TINY, global_batch=4, steps=4, learning_rate=0.05)
    looped = distributed.loop_steps(x, y, TINY, global_batch=4, steps=4, learning_rate=0.05)
    again = distributed.loop_steps(x, y, TINY, global_batch=4, steps=4, learning_rate=0.05)
    assert len(fitted) == len(looped) == 4
    np.testing.assert_allclose(fitted, looped, rtol=1e-4)
    assert looped == again
    assert looped[-1] < looped[0]  # it learns
    np.testing.assert_allclose(looped[0], np.log(12), rtol=0.05)  # starts near chance


def test_too_few_windows_for_the_steps_is_an_error():
    x, y = tiny_data(n=8)
    with pytest.raises(ValueError, match="fewer than steps"):
        distributed.fit_steps(x, y, TINY, global_batch=4, steps=3)


def test_tpu_strategy_is_none_without_a_tpu(monkeypatch):
    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    assert distributed.tpu_strategy() is None


def wait_until_dead(pids, seconds):
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def test_workers_die_when_their_launcher_is_killed(tmp_path):
    pid_file = tmp_path / "workers.json"
    launcher = (
        "import json, sys, time\n"
        "from utils import distributed\n"
        "sleeper = [sys.executable, '-c', 'import time; time.sleep(60)']\n"
        "workers = distributed.Workers(lambda i: sleeper, n=2, timeout=60).__enter__()\n"
        f"open({str(pid_file)!r}, 'w').write(json.dumps([p.pid for p in workers.processes]))\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", launcher], cwd=Path(__file__).parent.parent)
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the launcher never started its workers"
            time.sleep(0.05)
        pids = json.loads(pid_file.read_text())
        time.sleep(0.5)  # the workers have exec'd their command
        assert all(alive(pid) for pid in pids)
        parent.kill()  # as if the notebook's kernel died: no cleanup code runs
        parent.wait()
        assert wait_until_dead(pids, 5) == []
    finally:
        if parent.poll() is None:
            parent.kill()


BIND_OWN_PORT = (
    "import json, os, socket\n"
    "config = json.loads(os.environ['TF_CONFIG'])\n"
    "port = int(config['cluster']['worker'][config['task']['index']].split(':')[1])\n"
    "socket.socket().bind(('127.0.0.1', port))  # raises 'Address already in use' if taken\n"
    "print('listening on', port)\n"
)


def test_a_port_taken_after_the_check_is_chosen_again(taken_port, monkeypatch):
    real_free_ports = distributed.free_ports
    choices = iter([[taken_port, real_free_ports(1)[0]]])
    monkeypatch.setattr(distributed, "free_ports", lambda n: next(choices, None) or
                        real_free_ports(n))
    monkeypatch.setattr(distributed, "check_port_free", lambda port: None)  # it looked free
    with distributed.Workers(lambda i: python(BIND_OWN_PORT), n=2, timeout=30) as workers:
        results = workers.wait()
    assert workers.port_retries == 1
    assert taken_port not in workers.ports
    assert [r.stdout.split()[-1] for r in results] == [str(p) for p in workers.ports]


def test_a_chosen_port_taken_before_the_start_is_chosen_again(taken_port, monkeypatch):
    real_free_ports = distributed.free_ports
    choices = iter([[real_free_ports(1)[0], taken_port]])
    monkeypatch.setattr(distributed, "free_ports", lambda n: next(choices, None) or
                        real_free_ports(n))
    with distributed.Workers(lambda i: python(BIND_OWN_PORT), n=2, timeout=30) as workers:
        workers.wait()
    assert workers.port_retries == 1 and taken_port not in workers.ports


def test_port_retries_stop_after_the_given_attempts(taken_port, monkeypatch):
    monkeypatch.setattr(distributed, "free_ports", lambda n: [taken_port] * n)
    monkeypatch.setattr(distributed, "check_port_free", lambda port: None)
    workers = distributed.Workers(lambda i: python(BIND_OWN_PORT), n=1, timeout=30, attempts=2)
    with pytest.raises(distributed.WorkerFailedError, match="Address already in use"), workers:
        workers.wait()
    assert workers.port_retries == 1


def test_a_failure_that_is_not_a_port_clash_is_not_retried():
    workers = distributed.Workers(lambda i: python("import sys; sys.exit('no data file')"), n=2)
    with pytest.raises(distributed.WorkerFailedError, match="no data file"), workers:
        workers.wait()
    assert workers.port_retries == 0


def test_port_clash_messages_of_grpc_and_python_are_recognised():
    assert distributed.is_port_clash("E add_port.cc:83] Failed to add port to server: No address")
    assert distributed.is_port_clash("UnknownError: Could not start gRPC server")
    assert distributed.is_port_clash("OSError: [Errno 98] Address already in use")
    assert not distributed.is_port_clash("FileNotFoundError: windows.npz")


def test_unsynced_replicas_start_equal_then_drift_beyond_the_equivalence_bound():
    x, y = tiny_data(n=32)
    synced = distributed.fit_steps(x, y, TINY, global_batch=8, steps=4, learning_rate=0.05)
    alone = distributed.unsynced_steps(x, y, TINY, global_batch=8, steps=4, replicas=1,
                                       learning_rate=0.05)
    unsynced = distributed.unsynced_steps(x, y, TINY, global_batch=8, steps=4, replicas=2,
                                          learning_rate=0.05)
    np.testing.assert_allclose(alone, synced, rtol=distributed.EQUIVALENCE_RTOL)
    np.testing.assert_allclose(unsynced[0], synced[0], rtol=distributed.EQUIVALENCE_RTOL)
    assert (distributed.max_relative_difference(unsynced, synced)
            > 100 * distributed.EQUIVALENCE_RTOL)


def test_unsynced_steps_and_max_relative_difference_reject_bad_input():
    x, y = tiny_data(n=32)
    with pytest.raises(ValueError, match="split evenly over 3 replicas"):
        distributed.unsynced_steps(x, y, TINY, global_batch=8, steps=2, replicas=3)
    with pytest.raises(ValueError, match="fewer than steps"):
        distributed.unsynced_steps(x, y, TINY, global_batch=8, steps=5)
    with pytest.raises(ValueError, match="equally long"):
        distributed.max_relative_difference([1.0, 2.0], [1.0])
    assert distributed.max_relative_difference([1.0, 2.2], [1.0, 2.0]) == pytest.approx(0.1)


MIRRORED_CHECK = """
import json
import numpy as np
import tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
from utils import distributed
tiny = dict(vocab_size=12, embedding_dim=4, units=[8], dense_units=None)
rng = np.random.default_rng(0)
x = rng.integers(0, 12, (48, 5)).astype("int32")
y = (x + 1) % 12
args = (x, y, tiny, 8, 6)
with tf.device("CPU:0"):
    single = distributed.fit_steps(*args, learning_rate=0.05)
mirrored = distributed.fit_steps(*args, learning_rate=0.05,
                                 strategy=tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"]))
unsynced = distributed.unsynced_steps(*args, learning_rate=0.05)
print(json.dumps([distributed.max_relative_difference(mirrored, single),
                  distributed.max_relative_difference(unsynced, single)]))
"""


def test_mirrored_replicas_match_one_device_and_unsynced_ones_do_not():
    done = subprocess.run([sys.executable, "-c", MIRRORED_CHECK], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, timeout=120,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "-1"})
    assert done.returncode == 0, done.stderr[-2000:]
    mirrored, unsynced = json.loads(done.stdout.strip().splitlines()[-1])
    assert mirrored < distributed.EQUIVALENCE_RTOL  # the check passes with sync
    assert unsynced > 100 * distributed.EQUIVALENCE_RTOL  # and rejects replicas without it
