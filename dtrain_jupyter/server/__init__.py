"""The Jupyter server extension: configuration (app.py), REST handlers, OpenAPI document, change log."""
