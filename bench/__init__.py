"""Benchmarks, reported in BENCHMARKS.md (`make bench`)."""

import signal

# Benchmarks stop the CLI with Ctrl-C (SIGINT). A shell without job control starts a background job with
# SIGINT ignored, and an ignored signal stays ignored across exec: give the children the default again.
signal.signal(signal.SIGINT, signal.default_int_handler)
