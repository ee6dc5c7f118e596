"""PDF model cards and audit reports: evidence from the registry, Jinja2 templates, WeasyPrint."""
