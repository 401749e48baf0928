import os
import socket
import subprocess
import sys
import threading

import pytest
from scale_support import tiny_scenario, write_space
from scenario_support import ROOT

from tinyrl.errors import ConfigError
from tinyrl.scale.cluster import ClusterError, check_reachable, resolve_address
from tinyrl.scale.space import default_space_path, load_space
from tinyrl.tasks.config import load_scenario


def cli(*args, cwd, timeout_s=120):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tinyrl", *args], capture_output=True, text=True, timeout=timeout_s, cwd=cwd, env=env
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"train.seed": {"type": "int", "low": 5, "high": 1}}, r"params\.train\.seed: .*low 5 must not exceed high 1"),
        ({"train.seed": {"type": "gaussian"}}, r"params\.train\.seed: .*tag 'gaussian'"),
        ({"train.hyperparameters.learning_rate": {"type": "loguniform", "low": 0, "high": 1}}, r"positive"),
        ({"train.hyperparameters.lr": {"type": "uniform", "low": 0, "high": 1}}, r"ppo has no hyperparameter 'lr'"),
        ({"train.net_archh": {"type": "choice", "values": [[8]]}}, r"params\.train\.net_archh: no such field"),
        ({"train.n_envs": {"type": "int", "low": 0, "high": 4}}, r"params\.train\.n_envs: value 0 is invalid"),
        ({}, r"params: .*at least 1"),
    ],
)
def test_invalid_search_space_names_file_and_field(tmp_path, params, message):
    path = write_space(tmp_path, params)
    with pytest.raises(ConfigError, match=message) as info:
        load_space(path, load_scenario("obstacle-course"))
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


FIRST_TRIAL_PARAMS = {
    "train.seed": {"type": "int", "low": 0, "high": 9},
    "train.net_arch": {"type": "choice", "values": [[8], [16, 16]]},
    "train.hyperparameters.learning_rate": {"type": "loguniform", "low": 1.0e-4, "high": 1.0e-3},
}


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ({"train.seed": 1, "train.net_arch": [8]}, r"first_trials\.0: missing \['train\.hyperparameters"),
        (
            {"train.seed": 10, "train.net_arch": [8], "train.hyperparameters.learning_rate": 1e-4},
            r"first_trials\.0\.train\.seed: 10 is outside \[0, 9\]",
        ),
        (
            {"train.seed": 1.5, "train.net_arch": [8], "train.hyperparameters.learning_rate": 1e-4},
            r"first_trials\.0\.train\.seed: 1\.5 is not an integer",
        ),
        (
            {"train.seed": 1, "train.net_arch": [32], "train.hyperparameters.learning_rate": 1e-4},
            r"first_trials\.0\.train\.net_arch: \[32\] is not one of",
        ),
        (
            {"train.seed": 1, "train.net_arch": [8], "train.hyperparameters.learning_rate": 0.0},
            r"first_trials\.0\.train\.hyperparameters\.learning_rate: 0\.0 is outside",
        ),
    ],
)
def test_invalid_first_trial_names_file_and_field(tmp_path, point, message):
    path = write_space(tmp_path, FIRST_TRIAL_PARAMS, first_trials=[point])
    with pytest.raises(ConfigError, match=message) as info:
        load_space(path, load_scenario("obstacle-course"))
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_first_trials_reach_tune_in_its_encoding(tmp_path):
    point = {"train.seed": 3, "train.net_arch": [16, 16], "train.hyperparameters.learning_rate": 2e-4}
    space = load_space(write_space(tmp_path, FIRST_TRIAL_PARAMS, first_trials=[point]), load_scenario("hover"))
    (encoded,) = space.tune_first_trials()
    assert encoded == {**point, "train.net_arch": 1}  # a list in a choice goes to Tune as its index
    assert space.decode(encoded) == point


def test_shipped_spaces_are_valid():
    for name in ("obstacle-course", "hover", "source-seeking"):
        scenario = load_scenario(name)
        space = load_space(default_space_path(name), scenario)
        assert space.params


def test_sweep_cli_fails_fast_with_one_line(tmp_path):
    env = tiny_scenario(tmp_path)
    bad = write_space(tmp_path, {"train.seed": {"type": "int", "low": 3}})
    out = cli("sweep", "--env", str(env), "--space", str(bad), "--out", str(tmp_path / "s"), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"error: {bad}: params.train.seed.high: Field required"]
    assert not (tmp_path / "s").exists()

    # Nothing listens on the port: a clear message at once, no folder made.
    with SocketPort() as port:
        out = cli(
            "sweep", "--env", str(env), "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "s"), cwd=tmp_path
        )
    assert out.returncode == 2
    assert f"cannot reach a Ray cluster at 127.0.0.1:{port}" in out.stderr and "ray start --head" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()

    policy = ROOT / "policies" / "obstacle-course"
    out = cli("eval", str(policy), "--address", f"127.0.0.1:{port}", "--episodes", "5", cwd=tmp_path)
    assert out.returncode == 2 and "cannot reach a Ray cluster" in out.stderr


class SocketPort:
    """A loopback port that was free a moment ago (bound, then closed: nothing listens)."""

    def __enter__(self):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc):
        return False


class SilentServer:
    """A loopback port that accepts connections and never sends a byte: not Ray, and no timer decides that.

    The kernel completes the TCP handshake into the listen backlog without an ``accept``, so no thread is needed.
    """

    def __enter__(self) -> int:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> bool:
        self.sock.close()
        return False


class HttpServer:
    """A loopback HTTP server (Python's ``http.server``) answering one request: not Ray either.

    To gRPC's ``PRI * HTTP/2.0`` request it answers with a bare HTML error page (the HTTP/0.9 style).
    """

    def __enter__(self) -> int:
        import http.server

        self.server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        self.thread = threading.Thread(target=self.server.handle_request)
        self.thread.start()
        return self.server.server_address[1]

    def __exit__(self, *exc) -> bool:
        self.thread.join()
        self.server.server_close()
        return False


def test_a_port_that_accepts_but_is_not_ray_fails_within_the_codes_own_bound():
    # The check's own timeout, made small here; the listener never answers, so it is reached every time.
    with SilentServer() as port, pytest.raises(ClusterError) as silent:
        check_reachable(f"127.0.0.1:{port}", timeout_s=0.2)
    assert str(silent.value).startswith(f"127.0.0.1:{port} is not a Ray cluster: it accepted the connection but sent ")
    assert "nothing within 0.2 s" in str(silent.value) and "ray start --head" in str(silent.value)
    with HttpServer() as port, pytest.raises(ClusterError, match=r"does not speak gRPC \(it answered '<!DOCTYPE'\)"):
        check_reachable(f"127.0.0.1:{port}")


def test_a_grpc_server_passes_the_check():
    """Ray's GCS is a gRPC server; any gRPC server answers the HTTP/2 preface with SETTINGS, as the GCS does."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    server = grpc.server(ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        check_reachable(f"127.0.0.1:{port}")
        check_reachable(f"ray://127.0.0.1:{port}")
    finally:
        server.stop(None)


def test_eval_and_sweep_at_a_silent_port_fail_in_one_line(tmp_path):
    env = tiny_scenario(tmp_path)
    policy = ROOT / "policies" / "obstacle-course"
    with SilentServer() as port:
        swept = cli(
            "sweep", "--env", str(env), "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "s"), cwd=tmp_path
        )
        evaluated = cli("eval", str(policy), "--address", f"127.0.0.1:{port}", "--episodes", "5", cwd=tmp_path)
    for out in (swept, evaluated):
        assert out.returncode == 2, out.stderr[-2000:]
        (line,) = out.stderr.strip().splitlines()
        assert line.startswith(f"error: 127.0.0.1:{port} is not a Ray cluster: it accepted the connection")
    assert not (tmp_path / "s").exists()


def test_address_format_and_backend_are_checked():
    with pytest.raises(ClusterError, match="expected HOST:PORT"):
        check_reachable("localhost")
    with pytest.raises(ConfigError, match="--backend must be local or ray"):
        resolve_address("k8s", None)
    assert resolve_address("local", None) is None
    assert resolve_address("local", "10.0.0.1:6379") == "10.0.0.1:6379"


def test_a_sweep_whose_trials_all_fail_exits_nonzero_and_recommends_nothing(tmp_path):
    # Every trial's training fails when it builds its model: PPO has no such keyword.
    env = tiny_scenario(tmp_path, hyperparameters={"no_such_ppo_option": 1.0})
    space = write_space(tmp_path, {"train.seed": {"type": "int", "low": 0, "high": 5}})
    sweep = ("sweep", "--env", str(env), "--space", str(space), "--trials", "1", "--out", str(tmp_path / "s"))
    out = cli(*sweep, cwd=tmp_path, timeout_s=900)  # a hang guard: a failing trial is retried 3 times
    assert out.returncode == 2, out.stderr[-2000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "failed, so nothing is recommended" in errors[0]
    (sweep_dir,) = (tmp_path / "s").iterdir()
    assert (sweep_dir / "results.csv").is_file()
    assert not (sweep_dir / "best_scenario.yaml").exists() and not (sweep_dir / "best_overrides.yaml").exists()


def test_recommendation_needs_a_trial_that_trained():
    from tinyrl.scale.results import best_row

    failed = {"trial": "a", "status": "error"}
    assert best_row([failed, {"trial": "b", "status": "unfinished"}]) is None
    assert best_row([]) is None
    for status in ("finished", "stopped early"):
        assert best_row([{"trial": "c", "status": status}, failed])["trial"] == "c"
