"""Build the HIL firmware for a policy and run it under QEMU (``netduinoplus2``) on a loopback TCP serial port.

:func:`build_hil_firmware` generates the policy's C (the same files ``tinyrl export`` writes) into a build folder
keyed by the model's sha256 and runs ``make -C firmware TARGET=stm32f405 APP=hil``. :class:`QemuSession` starts
``qemu-system-arm`` with ``-icount shift=0`` and ``-serial tcp:127.0.0.1:PORT,server=on,wait=on,nodelay=on`` and
always stops it on exit (errors, Ctrl-C and SIGTERM included); on Linux QEMU also gets SIGKILL from the kernel when
the thread that started it ends, so not even a SIGKILL of ``tinyrl`` leaves it running
(:func:`tinyrl.processes.die_with_this_thread`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tinyrl import processes
from tinyrl.hil.link import HilLinkError

__all__ = ["QemuSession", "build_hil_firmware", "free_port", "qemu_command"]

QEMU_MACHINE = "netduinoplus2"


def build_hil_firmware(tflite: Path, build_dir: Path) -> Path:
    """Generate the policy's C from ``tflite`` and build the HIL image; returns the ELF path.

    Args:
        tflite: The int8 ``.tflite`` policy.
        build_dir: Cache folder; the image goes to ``build_dir/<sha256[:16]>/fw/tinyrl.elf``.

    Raises:
        ExportError: Missing tools, a model that does not fit the Cortex-M4, or a failed build.
    """
    from tinyrl.compress.tflite_reader import load_tflite
    from tinyrl.export import codegen, footprint
    from tinyrl.export.targets import check_model, get_target

    data = tflite.read_bytes()
    model = load_tflite(data)
    check_model(model, get_target("cortex-m4"))
    sha256 = codegen.model_hash(data)
    root = Path(build_dir).resolve() / sha256[:16]
    policy = root / "policy"
    policy.mkdir(parents=True, exist_ok=True)
    for name, text in codegen.generate(model, sha256, "tflm", tflite.name).items():
        target = policy / name
        if not target.is_file() or target.read_text() != text:  # keep mtimes, so make stays incremental
            target.write_text(text)
    tools = footprint.find_arm_tools()
    return footprint.make_firmware(
        root / "fw", tools.make, TARGET="stm32f405", APP="hil", KERNELS="dsp", POLICY=str(policy)
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def qemu_command(elf: Path, port: int, host: str = "127.0.0.1", qemu: str = "qemu-system-arm") -> list[str]:
    """The ``qemu-system-arm`` command line for the HIL image on ``host:port``."""
    return [
        qemu,
        "-M",
        QEMU_MACHINE,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        f"tcp:{host}:{port},server=on,wait=on,nodelay=on",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        "-kernel",
        str(elf),
    ]


class QemuSession:
    """``qemu-system-arm`` running an image, serving its USART1 on a loopback TCP port.

    Use as a context manager; :attr:`url` is the pyserial URL to connect to. QEMU waits for that connection
    before it starts the CPU (``wait=on``), so the firmware's HELLO is never lost.

    Args:
        elf: The firmware image.
        host: Address to listen on (loopback by default).
        port: TCP port (a free one if 0).
    """

    def __init__(self, elf: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.elf, self.host, self.port = Path(elf), host, port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``socket://host:port``."""
        return f"socket://{self.host}:{self.port}"

    def start(self) -> QemuSession:
        """Launch QEMU and wait until it listens.

        Raises:
            HilLinkError: ``qemu-system-arm`` is missing or exits at once (e.g. the port was taken).
        """
        qemu = shutil.which("qemu-system-arm")
        if qemu is None:
            raise HilLinkError("qemu-system-arm not found: run `make setup` (installs qemu-system-arm)")
        for _ in range(5):
            port = self.port or free_port(self.host)
            self.process = subprocess.Popen(
                qemu_command(self.elf, port, self.host, qemu),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # Ctrl-C reaches us, and our finally stops QEMU
                preexec_fn=processes.die_with_this_thread(),  # and if we are killed outright, the kernel does
            )
            try:
                deadline = time.monotonic() + 10.0
                while time.monotonic() < deadline and self.process.poll() is None:
                    if _listening(self.host, port):
                        self.port = port
                        return self
                    time.sleep(0.02)
            except BaseException:  # Ctrl-C or SIGTERM while QEMU starts
                self.stop()
                raise
            err = self.stop()
            if self.port:
                break
        raise HilLinkError(f"qemu-system-arm did not start: {err.strip() or 'no output'}")

    def stop(self) -> str:
        """Stop QEMU (terminate, then kill); returns its stderr. Safe to call twice."""
        proc, self.process = self.process, None
        if proc is None:
            return ""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3.0)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        return err

    def __enter__(self) -> QemuSession:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _listening(host: str, port: int) -> bool:
    """Whether something listens on ``host:port``, checked without connecting (a connect would start QEMU)."""
    try:
        with open("/proc/net/tcp") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return True  # not Linux: let the connect retry loop find out
    want = f"{port:04X}"
    return any(r.split()[1].endswith(":" + want) and r.split()[3] == "0A" for r in rows)
