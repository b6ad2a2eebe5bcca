"""Reads of the mail integration; access.py decides who sees what, for every other read."""
