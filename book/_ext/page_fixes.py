"""Pages that show their math and load without console errors.

- Sphinx loads MathJax only on pages whose own text has math, but the navigation of every page shows chapter
  titles with math: MathJax is loaded on every page (Sphinx's html assets policy "always").
- An inline script added twice (sphinx-thebe's and sphinx-togglebutton's settings are) declares its `const`s
  twice, a SyntaxError in the browser: each identical inline script is kept once.
- A long inline path or command would make a phone's page wider than its screen: `static/page_fixes.css` lets
  inline code wrap.
- The theme reads its colour mode from `html_context["default_mode"]`; unset, a first visit logs
  "Got invalid theme mode" as an error: it defaults to "auto".
"""
from pathlib import Path


def default_mode(app, config):
    config.html_context.setdefault("default_mode", "auto")


def unique_inline_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        body = getattr(script, "attributes", {}).get("body")
        if body and not getattr(script, "filename", None):
            if body in seen:
                continue
            seen.add(body)
        unique.append(script)
    if "script_files" in context:
        context["script_files"][:] = unique


def static_path(app):
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app):
    app.set_html_assets_policy("always")
    app.connect("builder-inited", static_path)
    app.add_css_file("page_fixes.css")
    app.connect("config-inited", default_mode)
    app.connect("html-page-context", unique_inline_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
