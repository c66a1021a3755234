"""Where this runtime's small ints end: the ESP32's are 31-bit (|n| < 2**30), the unix port's 62-bit.

Prints one JSON object: which values fit without an allocation under
micropython.heap_lock(). ``product`` is the regulator's former integral step,
ki * error * period_ms at the registry's limits (800 * 85000 * 50).
"""

import json

import micropython


def allocates(a, b, c):
    """True if a * b * c needs a heap object (a long int) on this runtime."""
    micropython.heap_lock()
    try:
        a * b * c
        return False
    except MemoryError:
        return True
    finally:
        micropython.heap_unlock()


print(json.dumps({
    "largest_small": allocates(1073741823, 1, 1) or allocates(-536870912, 2, 1),  # 2**30 - 1, -2**30
    "two_to_the_30": allocates(1 << 15, 1 << 15, 1),
    "product": allocates(800, 85000, 50),
}))
