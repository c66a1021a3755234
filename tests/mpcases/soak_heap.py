"""A long session in virtual time on the unix port: the heap kept after a collection must stay flat.

The firmware core and its Service tick against the simulated plant (cupctl.sim.runner) at full speed, so
the result does not depend on how fast or busy the machine is. Usage:
micropython soak_heap.py BOARD.json MINUTES  ->  one JSON line: samples of gc.mem_free() after gc.collect().
"""

import gc
import json
import sys

from cupctl.sim.runner import Simulation
from cupfw import boardcfg

with open(sys.argv[1]) as f:
    board = boardcfg.load(json.load(f))
minutes = int(sys.argv[2])
sim = Simulation({"program": "start ramp target=30 rate=0.5 minutes=%d cup=M" % minutes,
                  "duration_ms": minutes * 60000}, board)
free = [0] * minutes  # preallocated: a growing list of samples would itself show as heap growth
states = [0] * minutes
while sim.t <= minutes * 60000:
    sim.step()
    sim.output.take()
    if sim.t % 60000 == 0 and sim.t // 60000 <= minutes:
        gc.collect()
        free[sim.t // 60000 - 1] = gc.mem_free()
        states[sim.t // 60000 - 1] = sim.ctl.state
print(json.dumps({"ticks": sim.t // sim.ctl.period_ms, "mem_free": free, "states": states, "fault": sim.ctl.fault}))
