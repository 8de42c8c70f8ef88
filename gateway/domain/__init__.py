"""Pure rules: no I/O, no clock of their own. Imports nothing of ours but domain."""
