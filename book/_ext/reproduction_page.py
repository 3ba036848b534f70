"""Re-read the Reproduction page whenever any other page is re-read.

`book/reproduction.ipynb` gathers the tables the chapters write when they run, and is executed on every read
(its notebook metadata sets myst-nb's `execution_mode: force`). Sphinx re-reads only changed sources, so without
this a rebuild that re-executes a chapter would keep the page's old tables. Sphinx reads documents in sorted
order, so `book/reproduction` is executed after every `book/ch*` chapter.
"""
PAGE = "book/reproduction"


def reread_reproduction(app, env, added, changed, removed):
    if PAGE in env.found_docs and PAGE not in added | changed and (added or changed or removed):
        return [PAGE]
    return []


def setup(app):
    app.connect("env-get-outdated", reread_reproduction)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
