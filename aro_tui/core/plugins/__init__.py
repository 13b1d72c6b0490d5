"""Plugins on disk: manifests read and checked under ARO's rule sets, discovery, interpreters.

Nothing here imports or runs plugin code; the interpreter is only asked for its version.
"""
