"""The virtual Crazyflie (``tinyrl sitl``): the simulator and the int8 policy, served as CRTP over UDP on loopback.

cflib connects to it with ``udp://127.0.0.1:PORT`` as to a drone: one CRTP packet per datagram. It answers the ports
a flight needs (crazyflie-firmware's CRTP documentation): link (echo, source, null), platform (protocol and firmware
version), memory (no memories), param (TOC, read, write, set by name) and log (TOC, blocks created, appended, started
at any multiple of 10 ms, stopped, deleted), the supervisor's arming, the generic commander's hover and stop
setpoints (and the legacy commander's zero-thrust stop that cflib sends when it closes a link). App-channel packets
reach the app, which, like ``tinyrl_app.c``, takes none: they are dropped. The params and log variables are those of
:func:`tinyrl.hil.crtp.app_table`, the app's own table.

Time is simulated: the drone's clock advances in 10 ms ticks (the firmware's log timer), each tick running its share
of the physics, and a log block of period ``k`` ticks is sent at every ``k``-th tick stamped with that tick's
simulated milliseconds, so a block's packets are never missing a period whatever the machine's load. Between ticks
the server answers packets until the tick's wall-clock time (``speed`` simulated seconds per second; 0: no waiting).

What the drone does follows the app (``firmware/crazyflie/src/tinyrl_app.c``) and the firmware's commander:

* **Held.** It starts hovering at the course start, in the state a simulated episode starts in, and is held there
  (the stand-in for the user's take-off, which simulated episodes do not model) until the app flies it.
* **App.** With ``tinyrl.enable`` set and the drone armed, the app flies one episode: at each policy period the int8
  policy acts on the simulator's observation, built with the ``tinyrl.goal*`` and ``tinyrl.arena*`` params as the
  goal and geofence, and its hover setpoint is flown at the commander's lowest priority: any client setpoint (a hover
  setpoint or a stop) takes the drone over at once and the app stops, clearing ``tinyrl.enable``. The episode is
  course ``index % len(courses)`` with random stream ``seed + index``, the very episode ``tinyrl eval --courses FILE
  --seed SEED`` flies as its episode ``index``: with the course's goal and arena as params, the trajectory is the
  same bit for bit.
* **Hold.** Once ``tinyrl.enable`` is cleared the app holds a hover in place (zero velocity and yaw rate at the
  height the hold began), sent every period, until a client setpoint takes over.
* **Client.** The client's hover setpoints fly the drone, a stop setpoint stops the motors, and the supervisor's
  setpoint watchdog applies to the newest setpoint (level out after 500 ms, motors off after 2 s, latched).
* **Landed / crashed.** Touching the floor ends the flight (landed); touching an obstacle or the floor from the air
  ends it crashed. The drone then rests where it stopped. One flight per start: enabling again does nothing.

``TINYRL_SITL_FAULT=kill@TICKS`` makes the server SIGKILL itself ``TICKS`` ticks (10 ms each) into the app's
flight (a drone that vanishes mid-flight, for tests of a client's link loss); inert unless set.
"""

from __future__ import annotations

import math
import selectors
import signal
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyrl.common.episodes import check_obs_dim
from tinyrl.common.policy import Policy
from tinyrl.errors import TinyRLError
from tinyrl.hil.crtp import (
    LOG_TYPE_NAME,
    PROTOCOL_VERSION,
    AppTable,
    Packet,
    Port,
    app_table,
    pack_value,
    toc_crc,
    unpack_value,
)
from tinyrl.sim.course import Arena, Course, Goal
from tinyrl.sim.supervisor import watchdog_mode
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.tasks.core import FLOOR_CRASH_M, BatchedTask
from tinyrl.train.faults import Fault, parse_fault

__all__ = ["SITL_FAULT_VAR", "TICK_S", "SitlError", "VirtualCrazyflie", "bind_loopback"]

#: The drone's clock tick (s): the firmware's log period unit.
TICK_S = 0.01
#: The variable ``tinyrl sitl`` reads for its fault.
SITL_FAULT_VAR = "TINYRL_SITL_FAULT"
#: Most log blocks and variables (the firmware's ``LOG_MAX_BLOCKS``, ``LOG_MAX_OPS``).
MAX_LOG_BLOCKS = 16
MAX_LOG_OPS = 128
#: The multi-ranger's out-of-range reading (mm).
OUT_OF_RANGE_MM = 32767
#: Firmware version string of the virtual drone.
FIRMWARE_VERSION = b"tinyrl-sitl"
#: Error numbers of the CRTP replies (``crtp_error_numbers.md``: errno values).
ENOENT, E2BIG, ENOEXEC, EEXIST, ENOMEM = 2, 7, 8, 17, 12
#: Replies of the link's source channel start with this (cflib reads the protocol version only then).
SOURCE_MAGIC = b"Bitcraze Crazyflie"


class SitlError(TinyRLError):
    """The virtual Crazyflie cannot be served (port taken, a scenario it cannot fly)."""


def bind_loopback(port: int) -> socket.socket:
    """A UDP socket bound to ``127.0.0.1:port`` (loopback only).

    Raises:
        SitlError: The port is taken or not allowed.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise SitlError(f"cannot serve on udp://127.0.0.1:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


@dataclass
class LogBlock:
    """A log block a client created: ``(variable index, fetch type)`` pairs, and its period when started."""

    ops: list[tuple[int, str]] = field(default_factory=list)
    period_ticks: int = 0
    start_tick: int = -1

    @property
    def size(self) -> int:
        """Data bytes of one of its packets."""
        return sum(len(pack_value(ctype, 0)) for _, ctype in self.ops)


@dataclass
class Setpoint:
    """The newest setpoint: hover values ``(4,)`` (vx, vy m/s body, yaw rate deg/s, z m), or a stop; when it came."""

    values: np.ndarray
    stop: bool
    tick: int


class VirtualCrazyflie:
    """A simulated Crazyflie running the TinyRL app, answering CRTP packets.

    Args:
        config: The scenario.
        policy: The int8 policy the app runs (one drone: ``act`` gets ``(1, obs_dim)``).
        courses: The course list; the drone flies ``courses[index % len(courses)]``.
        index: Episode index, as ``tinyrl eval`` numbers episodes.
        seed: Base seed: the episode's random stream is ``seed + index``.
        table: Params and log variables served (default: the app's; :meth:`AppTable.without_app` for a drone
            without it).
        send: Sends one datagram to the client (the server sets it).

    Raises:
        PolicyError: The policy does not take the scenario's observations.
        SitlError: The scenario's policy period is not a whole number of 10 ms ticks, or its actions are discrete.
    """

    def __init__(
        self,
        config: ScenarioConfig,
        policy: Policy,
        courses: Sequence[Course],
        index: int = 0,
        seed: int = 0,
        table: AppTable | None = None,
        send: Callable[[bytes], None] | None = None,
    ) -> None:
        check_obs_dim(policy, config)
        if config.action.mode != "continuous":
            raise SitlError(f"scenario {config.name}: the app flies continuous hover actions, not {config.action.mode}")
        self.ticks_per_period = round(config.dt_s / TICK_S)
        if self.ticks_per_period < 1 or not math.isclose(self.ticks_per_period * TICK_S, config.dt_s):
            raise SitlError(f"scenario {config.name}: its policy period {config.dt_s} s is not a multiple of 10 ms")
        self.config, self.policy = config, policy
        self.courses, self.index, self.seed = list(courses), index, seed
        self.table = app_table() if table is None else table
        self.send = send if send is not None else (lambda datagram: None)
        self.params: dict[str, float] = {p.full_name: p.default for p in self.table.params}
        self.task = self._new_task(self.courses)
        if self.task.drones.physics_steps_per_policy % self.ticks_per_period:
            raise SitlError(f"scenario {config.name}: a 10 ms tick is not a whole number of physics steps")
        self.tick = 0
        self.state = "held"  # held, app, hold, client, landed, crashed
        self.reason = 0  # the app's tinyrl.reason: 1 disabled, 2 taken over, 4 supervisor
        self.app_start_tick = -1
        self.armed = False
        self.setpoint: Setpoint | None = None
        self.off_latched = False
        self.status = 0
        self.infer_us = 0
        self.command = np.zeros(4)  # the app's last hover setpoint, logged as tinyrl.vx/vy/yawRate/z
        self.blocks: dict[int, LogBlock] = {}
        self.log_packets = 0
        self.dropped: dict[str, int] = {"malformed": 0, "unknown_port": 0, "app_channel": 0}
        self._param_entries = [p.toc_entry() for p in self.table.params]
        self._log_entries = [v.toc_entry() for v in self.table.logs]
        #: Called after every 10 ms tick, once its log packets are out (the server answers packets there).
        self.after_tick: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ the simulated flight
    def _new_task(self, courses: Sequence[Course]) -> BatchedTask:
        """A one-drone task on ``courses``, reset into this drone's episode (its observation in :attr:`obs`)."""
        task = BatchedTask(self.config, 1, courses, randomize=False)  # the nominal drone, as tinyrl eval flies
        task.seed_slots([0], [self.seed + self.index])
        self.obs = task.reset_slots([0], [self.index % len(courses)])
        return task

    def _flown_course(self) -> list[Course]:
        """The course list with the course flown given the params' goal and arena, as the app sees them."""
        course = self.courses[self.index % len(self.courses)]
        p = self.params
        goal = Goal(xyz=(p["tinyrl.goalX"], p["tinyrl.goalY"], p["tinyrl.goalZ"]), radius_m=course.goal.radius_m)
        arena = Arena(
            x=(p["tinyrl.arenaXMin"], p["tinyrl.arenaXMax"]),
            y=(p["tinyrl.arenaYMin"], p["tinyrl.arenaYMax"]),
            z=course.arena.z,
        )
        flown = list(self.courses)
        flown[self.index % len(flown)] = course.model_copy(update={"goal": goal, "arena": arena})
        return flown

    def step_period(self) -> None:
        """One policy period of the drone: the app's step, or the commander's setpoints tick by tick."""
        enabled = self.params.get("tinyrl.enable", 0) != 0
        if self.state == "held" and enabled and self.armed:
            self.task.close()
            self.task = self._new_task(self._flown_course())  # the held state again, with the params' goal
            self.state = "app"
            self.app_start_tick = self.tick
        elif self.state == "app" and not enabled:
            self.state, self.reason = "hold", 1
            self.command = np.zeros(4)
            self.command[3] = float(self.task.drones.pos[0, 2])
        if self.state == "app":
            self._app_period()
            return
        if self.state == "hold":
            self.setpoint = Setpoint(self.command.copy(), False, self.tick)  # sent again every period
        for _ in range(self.ticks_per_period):
            if self.state in ("hold", "client"):
                self._client_tick()
            self._tick_done()

    def _app_period(self) -> None:
        t0 = time.perf_counter_ns()
        action = self.policy.act(self.obs)
        self.infer_us = (time.perf_counter_ns() - t0) // 1000
        self.command = self.task.setpoints(action)[0]
        self.setpoint = Setpoint(self.command.copy(), False, self.tick)
        result = self.task.step(action, "hover", chunks=self.ticks_per_period, after_chunk=self._tick_done)
        self.obs = result.obs
        if result.collision[0]:
            self.state = "crashed"

    def _client_tick(self) -> None:
        sp = self.setpoint
        if sp is None:
            return
        age_s = (self.tick - sp.tick) * TICK_S
        mode = "off" if sp.stop else watchdog_mode(age_s)
        self.off_latched |= mode == "off"
        drones = self.task.drones
        drones.step(
            sp.values[None, :],
            mode="off" if self.off_latched else mode,
            n_physics_steps=drones.physics_steps_per_policy // self.ticks_per_period,
        )
        z = float(drones.pos[0, 2])
        if z <= 0.0:
            self.state = "landed"
        elif self.task.world.collisions(drones.pos, self.task.radius_m)[0] or (
            z < FLOOR_CRASH_M and drones.vel[0, 2] < -1.0
        ):
            self.state = "crashed"

    # ------------------------------------------------------------------ the clock and the log
    def _tick_done(self) -> None:
        """10 ms of simulated time have passed: send the log blocks that are due, then :attr:`after_tick`."""
        self.tick += 1
        self._send_logs()
        self.after_tick()

    def _send_logs(self) -> None:
        due = [
            (block_id, b)
            for block_id, b in sorted(self.blocks.items())
            if b.start_tick >= 0 and (self.tick - b.start_tick) % b.period_ticks == 0
        ]
        if not due:
            return
        values = self.log_values()
        stamp_ms = (self.tick * round(TICK_S * 1000)) & 0xFFFFFF
        for block_id, block in due:
            data = bytes((block_id,)) + stamp_ms.to_bytes(3, "little")
            for var, ctype in block.ops:
                data += pack_value(ctype, values[self.table.logs[var].full_name])
            self.send(Packet(Port.LOG, 2, data).encode())
            self.log_packets += 1

    def log_values(self) -> dict[str, float]:
        """Every log variable's value now, in the units the firmware logs it in."""
        d = self.task.drones
        pos, vel = d.pos[0], d.vel[0]
        yaw = float(d.euler[0, 2])
        ranges_m = self.task.ranger.held()[0]
        max_m = self.config.sensors.multiranger.max_range_m
        ranges_mm = [OUT_OF_RANGE_MM if r >= max_m else r * 1000.0 for r in ranges_m]
        values = {
            "tinyrl.inferUs": float(self.infer_us),
            "tinyrl.status": float(self.status),
            "tinyrl.state": float({"app": 1, "hold": 2}.get(self.state, 0)),
            "tinyrl.reason": float(self.reason),
            "tinyrl.faults": 0.0,
            "tinyrl.vx": float(self.command[0]),
            "tinyrl.vy": float(self.command[1]),
            "tinyrl.yawRate": float(self.command[2]),
            "tinyrl.z": float(self.command[3]),
            "stateEstimate.x": float(pos[0]),
            "stateEstimate.y": float(pos[1]),
            "stateEstimate.z": float(pos[2]),
            "stateEstimate.vx": float(vel[0]),
            "stateEstimate.vy": float(vel[1]),
            "stateEstimate.yaw": math.degrees(yaw),
            "gyro.z": math.degrees(float(d.omega[0, 2])),
            "range.front": ranges_mm[0],
            "range.back": ranges_mm[1],
            "range.left": ranges_mm[2],
            "range.right": ranges_mm[3],
            "range.up": ranges_mm[4],
            "range.zrange": float(self.task.flow.held()[0, 0]) * 1000.0,
        }
        return {v.full_name: values[v.full_name] for v in self.table.logs}

    # ------------------------------------------------------------------ CRTP
    def receive(self, datagram: bytes) -> None:
        """Handle one datagram from the client; replies go out through :attr:`send`."""
        try:
            pk = Packet.decode(datagram)
        except ValueError:
            self.dropped["malformed"] += 1
            return
        handler = self._handlers().get(pk.port)
        if handler is None:
            self.dropped["unknown_port"] += 1
            return
        try:
            handler(pk)
        except (IndexError, struct.error, ValueError):  # a truncated request: the firmware drops it too
            self.dropped["malformed"] += 1

    def _handlers(self) -> dict[int, Callable[[Packet], None]]:
        return {
            Port.LINK: self._link,
            Port.PLATFORM: self._platform,
            Port.MEM: self._mem,
            Port.PARAM: self._param,
            Port.LOG: self._log,
            Port.SUPERVISOR: self._supervisor,
            Port.COMMANDER_GENERIC: self._commander_generic,
            Port.COMMANDER: self._commander_legacy,
        }

    def _reply(self, pk: Packet, data: bytes) -> None:
        self.send(Packet(pk.port, pk.channel, data).encode())

    def _link(self, pk: Packet) -> None:
        if pk.channel == 0:  # echo
            self._reply(pk, pk.data)
        elif pk.channel == 1:  # source: the magic string tells cflib to ask for the protocol version
            self._reply(pk, SOURCE_MAGIC.ljust(30, b"\0"))
        elif pk.channel == 3:  # null: the firmware drops it; answering lets cflib's UDP scan find the drone
            self._reply(pk, b"")

    def _platform(self, pk: Packet) -> None:
        if pk.channel == 1:
            command = pk.data[0]
            if command == 0:
                self._reply(pk, bytes((0, PROTOCOL_VERSION)))
            elif command == 1:
                self._reply(pk, bytes((1,)) + FIRMWARE_VERSION)
            elif command == 2:
                self._reply(pk, bytes((2,)) + b"CF2.1")
        elif pk.channel == 0 and pk.data[0] == 1:  # the legacy arming request
            self.armed = bool(pk.data[1])
        elif pk.channel == 2:
            self.dropped["app_channel"] += 1

    def _mem(self, pk: Packet) -> None:
        if pk.channel == 0 and pk.data[0] == 1:  # number of memories: none
            self._reply(pk, bytes((1, 0)))

    # ---- params
    def _param(self, pk: Packet) -> None:
        specs = self.table.params
        if pk.channel == 0:
            self._toc(pk, self._param_entries, b"")
        elif pk.channel == 1:  # read: id, status, value
            (ident,) = struct.unpack_from("<H", pk.data)
            if ident >= len(specs):
                self._reply(pk, pk.data[:2] + bytes((ENOENT,)))
                return
            spec = specs[ident]
            self._reply(pk, pk.data[:2] + b"\0" + pack_value(spec.ctype, self.params[spec.full_name]))
        elif pk.channel == 2:  # write: id, value; the reply echoes the value now held
            (ident,) = struct.unpack_from("<H", pk.data)
            if ident >= len(specs) or specs[ident].read_only:
                self._reply(pk, pk.data[:2] + bytes((ENOENT,)))
                return
            spec = specs[ident]
            self.params[spec.full_name] = unpack_value(spec.ctype, pk.data[2:])
            self._reply(pk, pk.data[:2] + pack_value(spec.ctype, self.params[spec.full_name]))
        elif pk.channel == 3:
            self._param_misc(pk)

    def _param_misc(self, pk: Packet) -> None:
        command, specs = pk.data[0], self.table.params
        if command == 0:  # set by name: group\0name\0type value
            group, name, rest = pk.data[1:].split(b"\0", 2)
            full_name = f"{group.decode()}.{name.decode()}"
            spec = next((p for p in specs if p.full_name == full_name), None)
            error = ENOENT if spec is None or spec.read_only else 0
            if spec is not None and not error:
                self.params[full_name] = unpack_value(spec.ctype, rest[1:])
            self._reply(pk, pk.data[: 3 + len(group) + len(name)] + bytes((error,)))
        elif command in (7, 8):  # extended type / default value, V2: id, status, value
            (ident,) = struct.unpack_from("<H", pk.data, 1)
            if ident >= len(specs):
                self._reply(pk, pk.data[:3] + bytes((ENOENT,)))
            elif command == 7:
                self._reply(pk, pk.data[:3] + b"\0\0")
            else:
                self._reply(pk, pk.data[:3] + b"\0" + pack_value(specs[ident].ctype, specs[ident].default))

    def _toc(self, pk: Packet, entries: list[bytes], info_tail: bytes) -> None:
        command = pk.data[0]
        if command == 3:  # info V2: count, CRC (+ the log's limits)
            self._reply(pk, bytes((3,)) + struct.pack("<HI", len(entries), toc_crc(entries)) + info_tail)
        elif command == 2:  # item V2
            (ident,) = struct.unpack_from("<H", pk.data, 1)
            self._reply(pk, pk.data[:3] + entries[ident] if ident < len(entries) else bytes((2,)))

    # ---- log
    def _log(self, pk: Packet) -> None:
        if pk.channel == 0:
            self._toc(pk, self._log_entries, bytes((MAX_LOG_BLOCKS, MAX_LOG_OPS)))
        elif pk.channel == 1:
            command, block_id = pk.data[0], pk.data[1] if len(pk.data) > 1 else 0
            self._reply(pk, bytes((command, block_id, self._log_control(command, block_id, pk.data[2:]))))

    def _log_control(self, command: int, block_id: int, args: bytes) -> int:
        """Do a log control command; its result (0 or an error number)."""
        if command == 5:  # reset
            self.blocks.clear()
            return 0
        if command in (6, 7):  # create, append (V2): (fetch type, variable id) triples
            if command == 6 and block_id in self.blocks:
                return EEXIST
            if command == 7 and block_id not in self.blocks:
                return ENOENT
            ops = []
            for k in range(0, len(args) - len(args) % 3, 3):
                fetch, ident = args[k] & 0x0F, int.from_bytes(args[k + 1 : k + 3], "little")
                if ident >= len(self.table.logs) or fetch not in LOG_TYPE_NAME:
                    return ENOENT
                ops.append((ident, LOG_TYPE_NAME[fetch]))
            if command == 6 and len(self.blocks) >= MAX_LOG_BLOCKS:
                return ENOMEM
            block = self.blocks.setdefault(block_id, LogBlock())
            if sum(len(b.ops) for b in self.blocks.values()) + len(ops) > MAX_LOG_OPS:
                return ENOMEM
            if block.size + sum(len(pack_value(c, 0)) for _, c in ops) > 26:
                if command == 6:
                    del self.blocks[block_id]
                return E2BIG
            block.ops.extend(ops)
            return 0
        started = self.blocks.get(block_id)
        if started is None:
            return ENOENT
        block = started
        if command in (3, 8):  # start: period in 10 ms units, or (V2) in ms rounded up to ticks
            period_ms = args[0] * 10 if command == 3 else int.from_bytes(args[:2], "little")
            block.period_ticks = max(1, -(-period_ms // round(TICK_S * 1000)))
            block.start_tick = self.tick
            return 0
        if command == 4:  # stop
            block.start_tick = -1
            return 0
        if command == 2:  # delete
            del self.blocks[block_id]
            return 0
        return ENOEXEC

    # ---- supervisor and commanders
    def _supervisor(self, pk: Packet) -> None:
        command = pk.data[0]
        if pk.channel == 1:
            if command == 1:  # arm / disarm
                self.armed = bool(pk.data[1])
                self._reply(pk, bytes((0x81, 1, int(self.armed))))
            elif command == 3:  # emergency stop: motors off, latched
                self._client_setpoint(np.zeros(4), stop=True, reason=4)
        elif pk.channel == 0:
            flying = self.state in ("held", "app", "client")
            bits = {1: True, 2: self.armed, 4: True, 5: flying, 8: self.state == "crashed"}
            if command == 0x0C:
                self._reply(pk, bytes((0x8C,)) + struct.pack("<H", sum(1 << (b - 1) for b, on in bits.items() if on)))
            elif 1 <= command <= 0x0B:
                self._reply(pk, bytes((command | 0x80, int(bits.get(command, False)))))

    def _client_setpoint(self, values: np.ndarray, stop: bool, reason: int = 2) -> None:
        """A setpoint from the client: it replaces the app's at once (the app sends at the lowest priority).

        The app then stops, clearing ``tinyrl.enable``; ``reason`` is its ``tinyrl.reason``.
        """
        if self.state in ("app", "hold"):
            self.state, self.reason = "client", reason
            self.params["tinyrl.enable"] = 0
        self.setpoint = Setpoint(values, stop, self.tick)

    def _commander_generic(self, pk: Packet) -> None:
        if pk.channel != 0:
            return  # meta commands (notify setpoint stop): the app already sends at the lowest priority
        kind = pk.data[0]
        if kind == 0:
            self._client_setpoint(np.zeros(4), stop=True)
        elif kind == 10:  # hover: vx, vy (m/s, body), yaw rate (deg/s), z (m)
            self._client_setpoint(np.array(struct.unpack_from("<4f", pk.data, 1), dtype=float), stop=False)

    def _commander_legacy(self, pk: Packet) -> None:
        thrust = struct.unpack_from("<fffH", pk.data)[3]
        if thrust == 0:  # cflib's close_link sends this: a stop
            self._client_setpoint(np.zeros(4), stop=True)


def sitl_fault() -> Fault | None:
    """The fault ``$TINYRL_SITL_FAULT`` asks for (``kill@TICKS``); ``None`` when unset.

    Raises:
        ConfigError: Malformed.
    """
    return parse_fault(SITL_FAULT_VAR, ("kill",))


def serve(
    drone: VirtualCrazyflie,
    sock: socket.socket,
    speed: float = 1.0,
    on_period: Callable[[VirtualCrazyflie], None] | None = None,
    fault: Fault | None = None,
) -> None:
    """Run ``drone`` on ``sock`` until interrupted: its clock, its log blocks and its answers.

    Args:
        drone: The virtual Crazyflie.
        sock: A bound, non-blocking UDP socket (:func:`bind_loopback`).
        speed: Simulated seconds per wall-clock second; 0 runs as fast as the machine can.
        on_period: Called after every policy period (progress display).
        fault: Kill this process that many ticks into the app's flight (:func:`sitl_fault`).
    """
    client: list[Any] = []

    def send(datagram: bytes) -> None:
        if client:
            try:
                sock.sendto(datagram, client[0])
            except OSError:  # the client went away; the next one to speak becomes the client
                client.clear()

    def service(until: float) -> None:
        """Answer packets until the wall-clock time ``until``; at least drain what has arrived."""
        while True:
            left = until - time.monotonic()
            if left > 0:
                selector.select(left)
            while True:
                try:
                    datagram, address = sock.recvfrom(64)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue
                if not client or client[0] != address:
                    client[:] = [address]
                drone.receive(datagram)
            if time.monotonic() >= until:
                return

    drone.send = send
    wall0 = time.monotonic()

    def after_tick() -> None:
        if fault is not None and drone.app_start_tick >= 0 and drone.tick - drone.app_start_tick >= fault.steps:
            signal.raise_signal(signal.SIGKILL)
        service(wall0 + drone.tick * TICK_S / speed if speed > 0 else 0.0)

    drone.after_tick = after_tick
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        while True:
            drone.step_period()
            if on_period is not None:
                on_period(drone)
