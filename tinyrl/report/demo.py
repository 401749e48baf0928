"""End-to-end flight demo: the whole simulator flown by a scripted reactive pilot.

Until training lands this is what ``make run`` shows: the Crazyflie flight model and PID cascade, the
course world and every sensor, in one closed loop that sees only what a real drone senses.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from tinyrl.common.plots import plot_flight
from tinyrl.io import atomic_write_bytes, atomic_write_text
from tinyrl.sim.course import Course, load_courses
from tinyrl.sim.drone import Quadrotors
from tinyrl.sim.sensors import FlowDeck, Gyro, Kinematics, MultiRanger
from tinyrl.sim.world import World

DEMO_COURSE_PATH = Path(__file__).resolve().parent.parent / "data" / "demo_course.json"


@dataclass(frozen=True)
class DemoResult:
    """Outcome of one demo flight."""

    outcome: str  # "success", "collision", "left_arena" or "timeout"
    time_s: float
    path_length_m: float
    min_clearance_m: float
    policy_rate_hz: float


def default_course() -> Course:
    """The packaged demo course."""
    return load_courses(DEMO_COURSE_PATH)[0]


class ReactivePilot:
    """A hand-written pilot: head for the goal; when something is ahead, commit to a sidestep for a while.

    Args:
        height_m: Height to hold (m).
        cruise_m_s: Forward speed with free space ahead (m/s).
        dt_s: Call period (s).
        dodge_s: How long a sidestep lasts once the way ahead is clear again (s); the commitment stops the
            pilot from dithering in front of a pillar.
    """

    def __init__(self, height_m: float, cruise_m_s: float, dt_s: float, dodge_s: float = 0.8) -> None:
        self.height_m, self.cruise_m_s, self.dt_s, self.dodge_s = height_m, cruise_m_s, dt_s, dodge_s
        self.side = 0.0
        self.dodge_left_s = 0.0

    def __call__(self, ranges_m: np.ndarray, goal_body: np.ndarray) -> np.ndarray:
        """Hover setpoint ``(4,)`` (body vx, vy m/s, yaw rate deg/s, z m) from ranges ``(5,)`` and goal ``(3,)``."""
        front, _back, left, right, _up = ranges_m
        bearing_rad = math.atan2(goal_body[1], goal_body[0])
        if front < 0.9:
            if self.dodge_left_s <= 0.0:
                # Toward the goal's side when there is room there: the rangers cannot see the arena's edge.
                goal_side = 1.0 if goal_body[1] >= 0 else -1.0
                room_m = left if goal_side > 0 else right
                self.side = goal_side if room_m > 0.6 else -goal_side
            self.dodge_left_s = self.dodge_s
        if self.dodge_left_s > 0.0:
            self.dodge_left_s -= self.dt_s
            vx = self.cruise_m_s * 0.5 * float(np.clip((front - 0.4) / 0.5, -0.5, 1.0))
            return np.array([vx, 0.5 * self.side, 0.0, self.height_m])
        vx = self.cruise_m_s * float(np.clip((front - 0.4) / 0.8, 0.0, 1.0)) * max(math.cos(bearing_rad), 0.0)
        # Keep off side walls.
        vy = 0.3 * (float(np.clip(0.5 - right, 0, 0.5)) - float(np.clip(0.5 - left, 0, 0.5)))
        yaw_rate_deg_s = float(np.clip(math.degrees(bearing_rad) * 1.5, -60.0, 60.0))
        return np.array([vx, vy, yaw_rate_deg_s, self.height_m])


def fly_demo(
    course: Course | None = None,
    seconds: float = 30.0,
    seed: int = 0,
    policy_rate_hz: float = 50.0,
    out_dir: Path | None = None,
    progress: bool = True,
) -> tuple[DemoResult, np.ndarray]:
    """Fly one drone through ``course`` with :class:`ReactivePilot`.

    Args:
        course: The course; the packaged demo course if None.
        seconds: Time limit (s).
        seed: Seed for the sensor noise.
        policy_rate_hz: Rate of the pilot loop (Hz); must divide the 500 Hz physics rate.
        out_dir: If given, write ``summary.json``, ``trajectory.npz`` and ``trajectory.png`` there.
        progress: Show a progress bar.

    Returns:
        The result and the trajectory ``(T, 3)`` in metres.
    """
    course = course or default_course()
    rng = np.random.default_rng(seed)
    drones = Quadrotors(1, policy_rate_hz=policy_rate_hz)
    world = World(1)
    world.set_course(0, course)
    dt_s = 1.0 / policy_rate_hz
    ranger, flow, gyro = MultiRanger(1, dt_s), FlowDeck(1, dt_s), Gyro(1, dt_s)
    drones.reset([0], np.asarray(course.start.xyz), course.start.yaw_rad)
    goal = np.asarray(course.goal.xyz)
    pilot = ReactivePilot(height_m=course.start.xyz[2], cruise_m_s=0.6, dt_s=dt_s)
    radius_m = drones.config.drone.collision_radius_m

    def kinematics() -> Kinematics:
        return Kinematics(drones.pos, drones.quat, drones.vel, drones.omega)

    for sensor in (ranger, flow, gyro):
        sensor.reset(None, world, kinematics(), rng)
    trajectory = [drones.pos[0].copy()]
    clearance = [float(world.clearance(drones.pos)[0])]
    outcome, n_steps = "timeout", round(seconds * policy_rate_hz)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("flying the demo course", total=n_steps)
        for _ in range(n_steps):
            kin = kinematics()
            ranges_m = ranger.step(world, kin, rng)[0]
            flow.step(world, kin, rng)
            gyro.step(world, kin, rng)
            yaw = drones.euler[0, 2]
            to_goal = goal - drones.pos[0]
            goal_body = np.array(
                [
                    math.cos(yaw) * to_goal[0] + math.sin(yaw) * to_goal[1],
                    -math.sin(yaw) * to_goal[0] + math.cos(yaw) * to_goal[1],
                    to_goal[2],
                ]
            )
            setpoint = pilot(ranges_m, goal_body)
            drones.step(setpoint[None, :])
            trajectory.append(drones.pos[0].copy())
            clearance.append(float(world.clearance(drones.pos)[0]))
            bar.advance(task)
            if world.collisions(drones.pos, radius_m)[0]:
                outcome = "collision"
            elif world.outside_arena(drones.pos)[0]:
                outcome = "left_arena"
            elif np.linalg.norm(goal - drones.pos[0]) <= course.goal.radius_m:
                outcome = "success"
            if outcome != "timeout":
                break
    world.close()
    traj = np.asarray(trajectory)
    result = DemoResult(
        outcome=outcome,
        time_s=round((len(traj) - 1) * dt_s, 6),
        path_length_m=float(np.linalg.norm(np.diff(traj, axis=0), axis=1).sum()),
        min_clearance_m=float(min(clearance) - radius_m),
        policy_rate_hz=policy_rate_hz,
    )
    if out_dir is not None:
        _write_outputs(Path(out_dir), course, traj, result)
    return result, traj


def _write_outputs(out_dir: Path, course: Course, traj: np.ndarray, result: DemoResult) -> None:
    import io

    atomic_write_text(out_dir / "summary.json", json.dumps(asdict(result), indent=2) + "\n")
    buf = io.BytesIO()
    np.savez(buf, trajectory_m=traj)
    atomic_write_bytes(out_dir / "trajectory.npz", buf.getvalue())
    atomic_write_bytes(out_dir / "trajectory.png", plot_flight(course, traj, title=f"demo flight: {result.outcome}"))
