"""Server-rendered web UI (Jinja2 templates, Babel catalogues for zh_CN and en)."""
