"""What each ESP32 variant's MicroPython port accepts, for the simulated ``machine`` (MicroPython-compatible).

Facts of the chips and of MicroPython v1.24.1's ``ports/esp32`` images (see docs/fidelity.md for the
sources); the single place the simulation keeps them. This is what the chip refuses, kept apart from
``firmware/boardcfg.py``'s policy of what a board file may use, so that the simulation checks the firmware
instead of agreeing with it (tests/test_fidelity.py compares the two).
"""

# The GPIOs ``machine.Pin`` knows on the v1.24.1 images the README has users flash: ports/esp32/machine_pin.h,
# MICROPY_HW_ENABLE_GPIOn under each image's configuration; machine_pin_find() raises ValueError("invalid pin")
# for the rest. Checked against the header, not copied from the firmware's own table (firmware/boardcfg.py).
IMAGES = {"esp32": "ESP32_GENERIC", "esp32s3": "ESP32_GENERIC_S3", "esp32c3": "ESP32_GENERIC_C3"}
GPIOS = {
    # ESP32_GENERIC: no SPIRAM (CONFIG_ESP32_SPIRAM_SUPPORT unset), so 16 and 17 are in; the table has GPIO20.
    "esp32": tuple(range(0, 24)) + (25, 26, 27) + tuple(range(32, 40)),
    # ESP32_GENERIC_S3 builds with boards/sdkconfig.spiram_sx (CONFIG_SPIRAM, quad): 26 is left out, 27-32 never
    # exist, 33-37 stay (not CONFIG_SPIRAM_MODE_OCT); 19/20 stay (CONFIG_USB_CDC_ENABLED, which would drop them,
    # is set by no v1.24.1 sdkconfig); 47/48 with MICROPY_HW_ESP32S3_EXTENDED_IO (on by default).
    "esp32s3": tuple(range(0, 22)) + tuple(range(33, 49)),
    # ESP32_GENERIC_C3: the USB-Serial/JTAG console (MICROPY_HW_ESP_USB_SERIAL_JTAG) leaves out 18/19; 14-17
    # (SPI flash) are never listed.
    "esp32c3": tuple(range(0, 14)) + (20, 21),
}
# sys.implementation._machine on each image: py/mpconfig.h MICROPY_BANNER_MACHINE, MICROPY_HW_BOARD_NAME " with "
# MICROPY_HW_MCU_NAME from the image's boards/*/mpconfigboard.h; sys.platform is "esp32" on all (mpconfigport.h).
MACHINE = {
    "esp32": "Generic ESP32 module with ESP32",
    "esp32s3": "Generic ESP32S3 module with ESP32S3",
    "esp32c3": "ESP32C3 module with ESP32C3",
}
PLATFORM = "esp32"
INPUT_ONLY = {"esp32": (34, 35, 36, 37, 38, 39), "esp32s3": (), "esp32c3": ()}  # and no pull resistors
I2C_IDS = {"esp32": (0, 1), "esp32s3": (0, 1), "esp32c3": (0,)}
PWM_MAX_BITS = {"esp32": 16, "esp32s3": 14, "esp32c3": 14}
PWM_CLOCK_HZ = 80000000
PWM_FREQ_RANGE = (1, 40000000)
PWM_DEFAULT_FREQ = 5000  # machine_pwm.c PWM_FREQ: a PWM made without freq, on a pin with none running
I2C_MS_PER_BYTE = 100  # hardware I2C on a hung bus: i2c_master_cmd_begin waits 100 ms * (1 + bytes)
ETIMEDOUT = 116


def pwm_bits(chip, freq):
    """Duty resolution at ``freq``: floor(log2(80 MHz / freq)), capped per chip; ValueError if none."""
    low, high = PWM_FREQ_RANGE
    if not low <= freq <= high:
        raise ValueError("frequency must be from 1Hz to 40MHz")
    bits = 0
    while (PWM_CLOCK_HZ // freq) >> (bits + 1):
        bits += 1
    if bits < 1:
        raise ValueError("unreachable frequency %d" % freq)
    return min(bits, PWM_MAX_BITS[chip])


def timer_unit(chip, id):
    """The hardware timer ``machine.Timer(id)`` drives (ports/esp32/machine_timer.c ``machine_timer_create``):
    (group, index); the C3 has one timer per group, so ids that differ in bit 0 alone share one."""
    if chip == "esp32c3":
        return (id & 1, 0)
    return ((id >> 1) & 1, id & 1)
