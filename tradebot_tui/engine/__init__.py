"""The trio runtime: services in one nursery, control commands, snapshots for the UI.

The public API the UI uses: `Engine`, `GuestRun`, the command classes and the snapshot
types. Nothing here imports textual.
"""
