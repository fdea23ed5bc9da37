"""The meshkit web app (Starlette, Jinja2 pages, JSON API) and the static catalog.

`create_app(source)` serves the live catalog; `generate_site(catalog, out)` writes the same
pages as static files. Endpoints are module-level functions listed in `routes` (catalog_routes,
jobs_api) and read what the app shares through `request.app.state` (app.py lists it)."""
