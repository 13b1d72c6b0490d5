"""``python -m aro_tui``."""

import sys

from aro_tui.cli import main

sys.exit(main())
