"""Results tables: this run's numbers beside the papers', one JSON file per chapter.

`record(chapter, rows, cfg)` writes `<results dir>/<chapter>.json` (`PAG_RESULTS_DIR`, default
`_build/results`) and returns a table that a notebook shows. Each row is a dict with `metric`,
`value`, and optionally `paper` (the paper's number, or None) and `note`.

`glue(key, value)` hands a number to the chapter's prose (myst-nb's `{glue:text}` role) and remembers it;
`record` writes every value glued under the chapter's prefix (`"ch03_"` for `"ch03_..."`) into the same JSON
file as `glued`, so that the text a reader sees and the recorded results are one and the same numbers.
"""
import json
import re
import os
import time
from html import escape

from . import checks, paths


def _fmt(value):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e3 else f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


class Table(dict):
    """A recorded results table; shows as HTML in a notebook and as text elsewhere. Introduced in Chapter 1."""

    def _repr_html_(self):
        head = "".join(f"<th>{h}</th>" for h in ("metric", "this run", "paper", "note"))
        body = "".join(
            f"<tr><td>{escape(r['metric'])}</td><td>{_fmt(r['value'])}</td><td>{_fmt(r.get('paper'))}</td>"
            f"<td>{escape(r.get('note') or '')}</td></tr>" for r in self["rows"])
        caption = (f"{escape(self['title'])} — profile <b>{self['profile']}</b>, dataset {self['dataset']}, "
                   f"{self['seconds']:.0f} s")
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"

    def __repr__(self):
        lines = [f"{self['title']} (profile {self['profile']}, dataset {self['dataset']}, {self['seconds']:.0f} s)"]
        lines += [f"  {r['metric']:<48} {_fmt(r['value']):>10}   paper: {_fmt(r.get('paper'))}" for r in self["rows"]]
        return "\n".join(lines)


_GLUED = {}


def _plain(value):
    """A number or string fit for JSON and for myst-nb's format specs (`:.1%`, `:g`)."""
    if hasattr(value, "item") and not isinstance(value, (int, float, str)):
        try:
            value = value.item()  # a one-element tensor or a numpy scalar
        except (ValueError, RuntimeError):
            raise checks.ArgumentTypeError(f"glue: value must be one number, got {checks.brief(value)}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise checks.ArgumentTypeError(f"glue: value must be a number or a string, got {checks.brief(value)}")
    return value


def glue(key: str, value):
    """Show `value` in the chapter's text as ``{glue:text}`key:fmt` `` and record it with the chapter's results.

    A string (a verdict such as "holds", a list of radii) is quoted with ``{glue:md}`key` `` instead.
    `key` starts with the chapter's prefix (`"ch03_dr_robust"`). Call it before `record`. Introduced in Chapter 1.
    """
    if not isinstance(key, str) or not re.fullmatch(r"ch\d\d_\w+", key):
        raise ValueError(f"glue: key must look like 'ch03_name' (the chapter's prefix, then a name), got {key!r}")
    value = _plain(value)
    _GLUED[key] = value
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # outside a book build the value is only recorded
        return value
    if isinstance(value, str):  # quoted as markdown, ``{glue:md}`key` ``, without the quotes of a repr
        from IPython.display import Markdown
        myst_glue(key, Markdown(value), display=False)
    else:
        myst_glue(key, value, display=False)
    return value


def _check_rows(rows):
    if not isinstance(rows, (list, tuple)):
        raise checks.ArgumentTypeError(f"record: rows must be a list of dicts, got {checks.brief(rows)}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "metric" not in row or "value" not in row:
            raise ValueError(f"rows[{i}] must be a dict with 'metric' and 'value', got {row!r}")
        if not isinstance(row["metric"], str):
            raise ValueError(f"rows[{i}]['metric'] must be a string, got {row['metric']!r}")
        for key in ("value", "paper"):
            value = row.get(key)
            if value is not None and not isinstance(value, (int, float, str)):
                raise ValueError(f"rows[{i}][{key!r}] must be a number, a string or None, got {checks.brief(value)}")


def record(chapter: str, rows: list, cfg: dict, title: str = None) -> Table:
    """Write the chapter's results table as JSON and return it for display. Introduced in Chapter 1."""
    if not isinstance(chapter, str) or not chapter or any(c in chapter for c in "/\\") or chapter.startswith("."):
        raise ValueError(f"record: chapter must be a file-name-like id such as 'ch01_adversarial_examples', got {chapter!r}")
    checks.mapping(cfg, "cfg", "record")
    _check_rows(rows)
    table = Table(
        chapter=chapter, title=title or chapter, profile=cfg.get("profile"), dataset=cfg.get("dataset"),
        seconds=time.perf_counter() - cfg["started"] if "started" in cfg else None,
        settings={k: v for k, v in cfg.items() if k != "started"},
        rows=[dict(metric=r["metric"], value=r["value"], paper=r.get("paper"), note=r.get("note")) for r in rows],
        recorded=time.strftime("%Y-%m-%d %H:%M:%S"),
        glued={k: v for k, v in _GLUED.items() if k.startswith(chapter.split("_")[0] + "_")},
    )
    folder = paths.results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{chapter}.json"
    temporary = folder / f".{chapter}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(table, indent=2, default=str))
    os.replace(temporary, target)
    return table


HOLDS, FAILS = "holds", "does not hold"
VERDICTS = {"all": "reproduced", "some": "partly", "none": "not here"}


def claims(rows) -> list:
    """The claims among a results table's rows: every row whose value is a verdict, "holds" or "does not hold".

    A chapter states a claim of the paper as a test with a rule it gives in its text, computes "holds" or "does not
    hold" from its measurements, and records it as a row (the metric names the claim, the note the control).
    Introduced in Chapter 3."""
    return [r for r in rows if r.get("value") in (HOLDS, FAILS)]


def verdict(rows) -> str:
    """'reproduced' when every claim among `rows` holds, 'partly' when some do, 'not here' when none does, and
    '–' when there is no claim. Introduced in Chapter 3."""
    found = claims(rows)
    if not found:
        return "–"
    held = sum(r["value"] == HOLDS for r in found)
    return VERDICTS["all" if held == len(found) else "some" if held else "none"]


def claims_markdown(rows) -> str:
    """A Markdown table of the claims among `rows` (claim, control or note, this run) and their verdict: the box a
    chapter shows near its top. Introduced in Chapter 3."""
    lines = ["| claim | this run | control, or where it was read |", "|---|---|---|"]
    for r in claims(rows):
        text = r["metric"].removeprefix("claim: ")
        lines.append(f"| {text} | **{r['value']}** | {r.get('note') or ''} |")
    return "\n".join(lines + ["", f"Verdict of this run: **{verdict(rows)}**."])


def load_all(folder=None) -> list:
    """Every recorded chapter table in the results folder, sorted by chapter name. Introduced in Chapter 1."""
    folder = folder or paths.results_dir()
    return [Table(json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]
