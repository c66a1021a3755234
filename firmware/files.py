"""Names of the files the firmware keeps in flash (shared with the host's deploy)."""

BOARD_FILE = "board.json"
MAINTENANCE_FLAG = "maintenance.flag"  # one-shot: boot into maintenance mode
