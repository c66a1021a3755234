"""What must outlive a reset that is not a power cycle: the last trusted ambient and the session flag.

On the ESP32 ``machine.RTC().memory()`` survives watchdog, panic and software
resets (not power-on). The record is 8 bytes: magic ``cu``, the ambient in Pa
(4 bytes, big-endian), a flags byte and an XOR checksum; anything else reads as
empty. ``store`` is anything with ``memory([data])``; without one the record
lives in RAM only (tests, replay).
"""

_MAGIC0 = 0x63  # 'c'
_MAGIC1 = 0x75  # 'u'
_IN_SESSION = 1
_SIZE = 8


class _RamStore:
    def __init__(self):
        self._data = bytearray(_SIZE)

    def memory(self, data=None):
        if data is None:
            return bytes(self._data)
        for i in range(_SIZE):
            self._data[i] = data[i]


class BootMemory:
    def __init__(self, store=None):
        self._store = store if store is not None else _RamStore()
        self._buf = bytearray(_SIZE)
        self.ambient_pa = 0
        self.in_session = False
        data = self._store.memory()
        if len(data) == _SIZE and data[0] == _MAGIC0 and data[1] == _MAGIC1 and _xor(data) == data[7]:
            self.ambient_pa = (data[2] << 24) | (data[3] << 16) | (data[4] << 8) | data[5]
            self.in_session = bool(data[6] & _IN_SESSION)

    def save(self, ambient_pa, in_session):
        """Write the record in place (no allocation: it is called from the tick)."""
        self.ambient_pa = ambient_pa
        self.in_session = in_session
        buf = self._buf
        buf[0] = _MAGIC0
        buf[1] = _MAGIC1
        buf[2] = (ambient_pa >> 24) & 255
        buf[3] = (ambient_pa >> 16) & 255
        buf[4] = (ambient_pa >> 8) & 255
        buf[5] = ambient_pa & 255
        buf[6] = _IN_SESSION if in_session else 0
        buf[7] = _xor(buf)
        self._store.memory(buf)


def _xor(data):
    value = 0
    for i in range(_SIZE - 1):
        value ^= data[i]
    return value
