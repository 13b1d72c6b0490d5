"""The non-UI core: plugins on disk, the plugin host, telemetry, session records.

Nothing under ``aro_tui.core`` imports Textual (tests/unit/test_import_hygiene.py proves it).
"""
