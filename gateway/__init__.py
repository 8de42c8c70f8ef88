"""3018 Gateway: the asyncio core of the helpline's chat gateway."""
