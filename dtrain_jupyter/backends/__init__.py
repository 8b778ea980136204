"""Backends run jobs somewhere: `local` (processes on this machine) and `kubernetes`."""
