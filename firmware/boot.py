# Runs first at every reset: pump off and cup vented before anything else.
from cupfw import hw

hw.make_safe()
