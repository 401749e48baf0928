import subprocess
import sys

from tinyrl import __version__


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyrl", *args], capture_output=True, text=True, timeout=120)


def test_python_m_tinyrl_version():
    out = run("version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == __version__


def test_help_lists_commands():
    out = run("--help")
    assert out.returncode == 0
    assert "version" in out.stdout
