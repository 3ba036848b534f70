"""The course's repository in one place: `repository.url` in `_config.yml` (pagutils/course/repository.py).

- Unset (empty): no launch button (Binder, Colab, JupyterHub, Thebe) and no repository, issues or edit button,
  so no page links to a repository that is not there. Set: the launch buttons and the repository button open it.
- The teacher page's install command and the state of the setting are MyST substitutions made from it:
  `{{ pagutils_install }}` and `{{ course_repository }}` (book/teacher.md).
- Every page says what it was built with, `<meta name="course-repository" content="<url, or empty>">`, which
  the browser check reads (tests/browser/check_book.mjs: launch buttons on notebook pages exactly when set).
- A notebook whose first cell is not the install cell of the setting (`python -m pagutils.course.repository sync`
  writes it) is a warning, an error under -W: Colab opens a notebook without `_config.yml`, so that cell holds
  the URL itself.
"""
import html
import importlib.util
import json
from importlib import metadata
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url", "thebe")
BUTTONS = ("use_repository_button", "use_issues_button", "use_edit_page_button")


def _repository():
    """pagutils/course/repository.py, loaded by its path: the build imports neither pagutils nor torch."""
    path = ROOT / "pagutils" / "course" / "repository.py"
    if not path.exists():  # a book built outside the checkout (the tests' small books): the installed pagutils's
        path = Path(importlib.util.find_spec("pagutils").origin).parent / "course" / "repository.py"
    spec = importlib.util.spec_from_file_location("pagutils_repository", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wheel_name() -> str:
    try:
        version = metadata.version("pagutils")
    except metadata.PackageNotFoundError:
        version = "<version>"
    return f"pagutils-{version}-py3-none-any.whl"


def theme_options(options: dict, url) -> dict:
    """Jupyter Book's `html_theme_options` for the setting `url` (None: unset), changed in place."""
    options["repository_url"] = url or ""
    if url:
        options["use_repository_button"] = True
    else:
        launch = options.get("launch_buttons") or {}
        options["launch_buttons"] = {key: value for key, value in launch.items() if key not in PROVIDERS}
        options.update({button: False for button in BUTTONS})
    return options


def substitutions(url, branch: str, wheel: str) -> dict:
    """What the pages say about installing pagutils, for the setting `url` (None: unset)."""
    from_wheel = (f"`pip install otter-grader {wheel}`, with the wheel that `make dist` writes into `_build/dist` "
                  f"(hand it out with the folder)")
    if url:
        requirement = _repository().requirement(url, branch)
        return dict(pagutils_install=f'`pip install otter-grader "{requirement}"`, or {from_wheel}',
                    course_repository=f"<{url}> (branch `{branch}`)")
    return dict(pagutils_install=from_wheel,
                course_repository="empty")


def apply_setting(app, config):
    repository = _repository()
    options = config.html_theme_options
    url = repository.normalise(options.get("repository_url"))
    branch = repository.branch_name(options.get("repository_branch"))
    options["repository_branch"] = branch
    theme_options(options, url)
    config.myst_substitutions = {**(config.myst_substitutions or {}), **substitutions(url, branch, _wheel_name())}
    app.course_repository = (url, branch)


def check_install_cells(app, env, docnames):
    repository = _repository()
    url, branch = app.course_repository
    for docname in sorted(env.found_docs):
        path = Path(env.doc2path(docname))
        if path.suffix == ".ipynb" and path.parent == Path(app.srcdir) / "book":
            if not repository.in_step(json.loads(path.read_text()), url, branch):
                LOGGER.warning(f"the install cell (the first cell) of {path.name} is not the one of _config.yml's "
                               f"repository.url ({url or 'unset'}): run `python -m pagutils.course.repository sync`",
                               location=docname, type="course_repository", subtype="install_cell")


def meta_tag(app, pagename, templatename, context, doctree):
    url, _ = app.course_repository
    context["metatags"] = context.get("metatags", "") + \
        f'\n<meta name="course-repository" content="{html.escape(url or "")}" />'


def setup(app):
    app.connect("config-inited", apply_setting, priority=400)
    app.connect("env-before-read-docs", check_install_cells)
    app.connect("html-page-context", meta_tag)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
