"""The engine: the one interpreter of steps and the only code that changes a target.

`session` opens a target, takes its lock and records to its ledger; `executor` runs a
plan's steps through the handlers in `actions` (one module per step kind, an explicit
registry), applies each step's failure policy, rolls back and verifies after the switch.
"""
