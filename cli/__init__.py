"""The ``wanflow`` command line, the top layer: it may use every other package, and none uses it.

Kept out of the core package so that the core, the stages, the tasks and the flows stay
importable (and testable) without a terminal front end above them.
"""
