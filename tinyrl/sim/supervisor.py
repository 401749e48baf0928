"""The Crazyflie supervisor's setpoint watchdog: what the drone flies when setpoints stop coming.

crazyflie-firmware (``supervisor.c``, ``commander.h``): more than ``COMMANDER_WDT_TIMEOUT_STABILIZE`` (500 ms)
after the last setpoint the supervisor replaces it with a level-out (level attitude, no yaw rate, height held);
more than ``COMMANDER_WDT_TIMEOUT_SHUTDOWN`` (2 s) after it, with the null setpoint (motors off). A new setpoint ends
a level-out; motors-off is latched until the drone is re-armed, which a simulated episode never does.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Setpoint age (s) after which the drone levels out.
LEVEL_OUT_AFTER_S = 0.5
#: Setpoint age (s) after which the motors stop.
MOTORS_OFF_AFTER_S = 2.0


def watchdog_mode(setpoint_age_s: float) -> str:
    """Controller mode (:attr:`tinyrl.sim.controller.CascadeController.modes`) for a setpoint ``setpoint_age_s`` old."""
    if setpoint_age_s > MOTORS_OFF_AFTER_S:
        return "off"
    if setpoint_age_s > LEVEL_OUT_AFTER_S:
        return "level"
    return "hover"


@dataclass
class SetpointWatchdog:
    """The age of the last setpoint of one drone, and the mode it implies (motors-off latched).

    Args:
        period_s: Time between setpoint slots (one policy period), s.
    """

    period_s: float
    missed_periods: int = 0
    latched_off: bool = False

    @property
    def age_s(self) -> float:
        """Age of the last setpoint, s (a count of periods: no drift from summing them)."""
        return self.missed_periods * self.period_s

    def received(self) -> str:
        """A setpoint arrived for this period; returns the mode to fly it in."""
        self.missed_periods = 0
        return "off" if self.latched_off else "hover"

    def missed(self) -> str:
        """No setpoint this period: the last one ages by one period; returns the mode to fly."""
        self.missed_periods += 1
        mode = watchdog_mode(self.age_s)
        self.latched_off |= mode == "off"
        return "off" if self.latched_off else mode

    def reset(self) -> None:
        """A new flight: fresh setpoints, motors allowed."""
        self.missed_periods = 0
        self.latched_off = False
