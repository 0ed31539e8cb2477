"""Stage report: the HTML pages of training runs and backtests (Jinja2 templates, inline SVG)."""
