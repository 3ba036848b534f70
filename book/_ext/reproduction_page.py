"""Re-read the pages that gather the chapters' results whenever any other page is re-read.

`book/reproduction.ipynb`, the Parts' summaries (`book/part1_what_to_believe.ipynb`, `part2_...`) and the
syllabus (which measures the cache a pack would hold) read what the chapters write when they run, and are
executed on every read (their notebook metadata sets myst-nb's `execution_mode: force`). Sphinx re-reads only
changed sources, so without this a rebuild that re-executes a chapter would keep the pages' old tables. Sphinx
reads documents in sorted order, so `book/part*`, `book/reproduction` and `book/syllabus` are executed after every
`book/ch*` chapter.
"""
PAGES = ("book/part1_what_to_believe", "book/part2_what_to_believe", "book/reproduction", "book/syllabus")


def reread_reproduction(app, env, added, changed, removed):
    if not (added or changed or removed):
        return []
    return [page for page in PAGES if page in env.found_docs and page not in added | changed]


def setup(app):
    app.connect("env-get-outdated", reread_reproduction)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
