"""Headless subcommands of ``aro-tui``; each module registers its own parsers."""
