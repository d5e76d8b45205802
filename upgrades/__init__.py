"""Rolling upgrades: the pure planner, health gates, the executor and the scheduler.

Imports ``store`` and ``collectors``. Filled in by the upgrades issue.
"""
