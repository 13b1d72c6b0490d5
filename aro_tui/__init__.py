"""aro-tui: a terminal dashboard for running and inspecting ARO Python plugins."""

__version__ = "0.1.0"
