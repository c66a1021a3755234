# The control loop. Whatever ends it (a crash, mpremote's Ctrl-C) leaves the cup vented.
import micropython

from cupfw import hw, runtime

try:
    runtime.main(hw)
except BaseException as e:  # KeyboardInterrupt and SystemExit too
    micropython.kbd_intr(-1)  # a second Ctrl-C must not cut the safe exit short
    runtime.vent()  # through the live objects first: nothing to parse
    hw.make_safe()  # then the pins from the raw board file
    runtime.report_exit(e)
    micropython.kbd_intr(3)  # the REPL gets its Ctrl-C back
