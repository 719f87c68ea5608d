"""The HTTP face of shopcrm: REST API under /api/v1 and the server-rendered web UI."""
