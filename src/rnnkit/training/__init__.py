"""Helpers of ``rnnkit.train``: data coercion, losses and metrics, resume state.

``train.py`` holds the loop itself; these modules keep it short.
"""
