"""Benchmark of the 3018 Gateway: `python -m bench` (or `scripts/bench`) from the repo root.

One run starts a private redis-server, one gateway process on it and, for comparison, a
bare aiohttp WebSocket relay (`bench/relay.py`, the floor), drives them with widget and
console clients from this process, and prints throughput, latency, lost messages, the
gateway's memory and the CPU of every process (so a client-bound figure shows as such).

Modules: `procs` (subprocesses, /proc readings), `load` (the lightweight clients and the
receipt tallies), `relay` (the floor), `gateways` (the servers of a run), `phases` (the message
and idle phases), `meter` (CPU and receipts of a phase), `report` (what is printed), `aims`
(the issue #15 aims beside the run's figures), `__main__` (the run).
"""
