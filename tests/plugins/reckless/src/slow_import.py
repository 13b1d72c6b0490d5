"""A module that takes its time to import, as torch does on a first call."""

import sys
import time

sys.stderr.write("slow_import: importing\n")
sys.stderr.flush()
time.sleep(30)
