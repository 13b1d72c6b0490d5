"""Telemetry widgets: the memory chart, the model-cache table and the panel composing them."""

from aro_tui.ui.widgets.telemetry.cache_table import ModelCacheTable
from aro_tui.ui.widgets.telemetry.chart import MemoryChart
from aro_tui.ui.widgets.telemetry.panel import TelemetryPanel

__all__ = ["MemoryChart", "ModelCacheTable", "TelemetryPanel"]
