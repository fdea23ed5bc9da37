"""The meshkit web app (Starlette, Jinja2 pages, JSON API) and the static catalog.

`create_app(source)` serves the live catalog; `generate_site(catalog, out)` writes the same
pages as static files. Route providers let other parts of meshkit add routes to the app."""
