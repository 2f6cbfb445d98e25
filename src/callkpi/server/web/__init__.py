"""The web dashboard served by ``callkpi serve``: pages (overview, scorecard, wallboard,
login), their JSON routes, templates, scripts, styles and the vendored chart library, all
inside the package. See docs/web.md."""

from callkpi.server.web.routes import add_web_routes

__all__ = ["add_web_routes"]
