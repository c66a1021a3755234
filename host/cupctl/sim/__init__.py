"""Simulation: the plant model, simulated hardware, scenarios and the virtual board.

plant, hardware and runner also run on the MicroPython unix port.
"""
