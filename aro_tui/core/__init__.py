"""The non-UI core: manifests, discovery, the plugin host, records, telemetry.

Nothing under ``aro_tui.core`` imports Textual (tests/unit/test_import_hygiene.py proves it).
"""
