"""Fault codes: one number per reason the supervisor vents the cup."""

from micropython import const

NONE = const(0)
HARD_LIMIT = const(1)
SENSOR_STATUS = const(2)
SENSOR_BUS = const(3)
SENSOR_TIMEOUT = const(4)
SENSOR_IMPLAUSIBLE = const(5)
SENSOR_FROZEN = const(6)
LEAK = const(7)
OVER_DURATION = const(8)
EMERGENCY = const(9)
HEARTBEAT = const(10)
WATCHDOG_RESET = const(11)
BOARD_CONFIG = const(12)
AMBIENT = const(13)
SENSOR_DISAGREES = const(14)
PUMP_RUNAWAY = const(15)
LOOP_OVERRUN = const(16)
UNEXPECTED_RESET = const(17)
VENT_TIMEOUT = const(18)
NOT_VENTED = const(19)
VACUUM_LOST = const(20)

NAMES = {
    NONE: "none",
    HARD_LIMIT: "hard_limit",
    SENSOR_STATUS: "sensor_status",
    SENSOR_BUS: "sensor_bus",
    SENSOR_TIMEOUT: "sensor_timeout",
    SENSOR_IMPLAUSIBLE: "sensor_implausible",
    SENSOR_FROZEN: "sensor_frozen",
    LEAK: "leak",
    OVER_DURATION: "over_duration",
    EMERGENCY: "emergency",
    HEARTBEAT: "heartbeat",
    WATCHDOG_RESET: "watchdog_reset",
    BOARD_CONFIG: "board_config",
    AMBIENT: "ambient",
    SENSOR_DISAGREES: "sensor_disagrees",
    PUMP_RUNAWAY: "pump_runaway",
    LOOP_OVERRUN: "loop_overrun",
    UNEXPECTED_RESET: "unexpected_reset",
    VENT_TIMEOUT: "vent_timeout",
    NOT_VENTED: "not_vented",
    VACUUM_LOST: "vacuum_lost",
}
