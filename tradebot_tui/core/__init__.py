"""Pure trading domain: ticks, market rules, anchors, entries, exits, ledger, lifecycle.

Nothing in this package does I/O, reads a clock or imports trio or textual: time is
always an argument (milliseconds since the Unix epoch, UTC).
"""
