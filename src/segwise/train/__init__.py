"""Training: config dataclasses, the loop, checkpoints, schedules.

Import the pieces from their modules (``segwise.train.loop.train``); this package does not import
torch on its own.
"""
