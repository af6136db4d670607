"""The MCP server (the ``mcp`` extra): Carelog's tools for a model host, over streamable HTTP
at ``/mcp`` and over stdio (``carelog mcp``), acting with the caller's own credentials."""
