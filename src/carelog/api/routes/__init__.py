"""The API's routers: ``events`` (authenticated) and ``health`` (public)."""
