# The control loop. Whatever ends it (a crash, mpremote's Ctrl-C) leaves the cup vented.
import hw
import runtime

try:
    runtime.main(hw)
except BaseException as e:  # KeyboardInterrupt and SystemExit too
    hw.make_safe()
    runtime.report_exit(e)
