"""The server-rendered web console: Jinja2 templates, static assets and the one translation catalogue."""
