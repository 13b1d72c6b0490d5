"""Talking to plugins: the harness protocol, plugin processes, and one exchange per call.

``process`` holds the public API (``PluginProcess``, ``PluginLaunch``, ``PluginObserver``),
``plugin_host`` many processes by name (``PluginHost``); ``exchange`` the record of each
call. docs/host-protocol.md has both.
"""
