"""The console's routes and socket, security middleware, metrics, health: thin adapters over the core."""
