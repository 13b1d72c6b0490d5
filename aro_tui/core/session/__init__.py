"""Session recordings: write them as they happen, read them back, list, prune and replay them.

``recorder`` writes (``SessionRecorder``), ``reader`` reads (``read_session``), ``store`` finds
and prunes them in the user's data folder, ``replay`` reruns recorded exchanges and diffs the
answers. The file format is documented in ``docs/sessions.md``.
"""
