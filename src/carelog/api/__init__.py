"""The HTTP API: FastAPI routers, request parsing, auth dependencies, problem details."""
