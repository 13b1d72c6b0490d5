"""Corpus plugin: never imported by checks."""
