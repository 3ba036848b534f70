"""Serve the book's browser libraries from the site itself, so every page works offline.

MathJax, require.js and the Jupyter widget manager (@jupyter-widgets/html-manager) are installed from the npm
registry into `node_modules/` (`npm ci`, see `package.json`; `make book` does it), copied into
`_static/vendor/` of the HTML build, and the pages load these copies: Sphinx's `mathjax_path` and myst-nb's
`nb_ipywidgets_js` are pointed at them here. `static/widgets-config.js` runs between require.js and the widget
manager: it points the manager at its fonts in `_static/vendor/html-manager/` and lets the widgets typeset with
MathJax 3. No page loads a script or stylesheet from another site.
"""
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = "vendor"  # under _static

# what is copied: a file, folder or glob pattern in node_modules -> its path under _static/vendor
ASSETS = {
    "mathjax/es5": "mathjax",
    "mathjax/LICENSE": "mathjax/LICENSE",
    "requirejs/require.js": "require.js",
    "@jupyter-widgets/html-manager/dist/embed-amd.js": "embed-amd.js",
    "@jupyter-widgets/html-manager/dist/*.woff*": "html-manager",
    "@jupyter-widgets/html-manager/dist/*.ttf": "html-manager",
    "@jupyter-widgets/html-manager/dist/*.eot": "html-manager",
    "@jupyter-widgets/html-manager/dist/*.svg": "html-manager",
}
# MathJax's other combined components are not used: only `tex-mml-chtml.js` and what it loads
MATHJAX_UNUSED = ["mml-chtml.js", "mml-svg.js", "tex-chtml.js", "tex-chtml-full.js", "tex-chtml-full-speech.js",
                  "tex-mml-svg.js", "tex-svg.js", "tex-svg-full.js", "latest.js", "node-main.js"]

MATHJAX_PATH = f"{VENDOR}/mathjax/tex-mml-chtml.js"
WIDGET_SCRIPTS = {f"{VENDOR}/require.js": {}, f"{VENDOR}/widgets-config.js": {}, f"{VENDOR}/embed-amd.js": {}}

logger = logging.getLogger(__name__)


def _sources(name):
    """The files or folder in node_modules that an ASSETS key names (a glob pattern may name several)."""
    return sorted(NODE_MODULES.glob(name)) if "*" in name else [NODE_MODULES / name]


def missing_assets() -> list:
    """The ASSETS keys that node_modules lacks."""
    return [name for name in ASSETS if not any(path.exists() for path in _sources(name))]


def point_pages_at_vendor(app, config):
    """Make MathJax and the widget scripts load from _static/vendor/ instead of a CDN."""
    config.mathjax_path = MATHJAX_PATH
    config.nb_ipywidgets_js = dict(WIDGET_SCRIPTS)


def check_assets(app):
    if app.builder.format == "html" and missing_assets():
        raise ExtensionError(f"offline_assets: {', '.join(missing_assets())} missing from {NODE_MODULES}: run "
                             f"`npm ci` in {ROOT} (or `make book`, which does it)")


def _skip_unused(folder, names):
    return [n for n in names if n in MATHJAX_UNUSED] if Path(folder).name == "es5" else []


def copy_assets(app, exception):
    """Copy ASSETS and widgets-config.js into <html output>/_static/vendor/ once the build succeeded."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / VENDOR
    for name, destination in ASSETS.items():
        for source in _sources(name):
            dest = target / destination
            if source.is_dir():
                shutil.copytree(source, dest, dirs_exist_ok=True, ignore=_skip_unused)
                continue
            if "*" in name:
                dest = dest / source.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)
    shutil.copy2(HERE / "static" / "widgets-config.js", target / "widgets-config.js")
    logger.info(f"offline_assets: copied MathJax, require.js and the widget manager into {target}")


def setup(app):
    app.connect("config-inited", point_pages_at_vendor)
    app.connect("builder-inited", check_assets)
    app.connect("build-finished", copy_assets)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
