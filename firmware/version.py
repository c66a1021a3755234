"""Firmware version, reported at boot and by the info command."""

VERSION = "0.1.0"
