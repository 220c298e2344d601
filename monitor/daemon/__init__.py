"""Pipeline wiring, asyncio service and the local status socket."""
