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
import time
from html import escape

import torch

from ..core import checks, paths, spread, zoo
from ..core.claims import Claim, markdown as claims_markdown, verdict as claims_verdict


def _fmt(value):
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e3 else f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


class Table(dict):
    """A recorded results table; shows as HTML in a notebook and as text elsewhere. Introduced in Chapter 1."""

    def _seconds(self) -> str:
        return "run time not recorded" if self.get("seconds") is None else f"{self['seconds']:.0f} s"

    def _repr_html_(self):
        head = "".join(f"<th>{h}</th>" for h in ("metric", "this run", "paper", "note"))
        body = "".join(
            f"<tr><td>{escape(r['metric'])}</td><td>{_fmt(r['value'])}</td><td>{_fmt(r.get('paper'))}</td>"
            f"<td>{escape(r.get('note') or '')}</td></tr>" for r in self["rows"])
        body += "".join(
            f"<tr><td>claim: {escape(c['statement'])}</td><td><b>{escape(c['outcome'])}</b></td><td>holds</td>"
            f"<td>{escape(c['note'] or '')}</td></tr>" for c in self.get("claims", []))
        caption = (f"{escape(self['title'])} — profile <b>{self['profile']}</b>, dataset {self['dataset']}, "
                   f"{self._seconds()}")
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"

    def __repr__(self):
        lines = [f"{self['title']} (profile {self['profile']}, dataset {self['dataset']}, {self._seconds()})"]
        lines += [f"  {r['metric']:<48} {_fmt(r['value']):>10}   paper: {_fmt(r.get('paper'))}" for r in self["rows"]]
        lines += [f"  claim: {c['statement']:<41} {c['outcome']:>10}   paper: holds" for c in self.get("claims", [])]
        return "\n".join(lines)


_GLUED = {}


def _plain(value, where="glue", name="value", optional=False):
    """A number or string fit for JSON and for myst-nb's format specs (`:.1%`, `:g`); a one-element tensor or a
    numpy scalar becomes its number. With `optional` (a results row's cell) None and a bool pass too. `where` and
    `name` name the function and the argument in errors."""
    if hasattr(value, "item") and not isinstance(value, (int, float, str)):
        try:
            value = value.item()  # a one-element tensor or a numpy scalar
            not_one = False
        except (ValueError, RuntimeError):
            not_one = True
        if not_one:  # raised outside the except clause: the error is not chained to item()'s
            checks.fail(where, name, "be one number", value, error=checks.ArgumentTypeError)
    if optional and (value is None or isinstance(value, bool)):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        expected = "a number, a string or None" if optional else "a number or a string"
        checks.fail(where, name, f"be {expected}", value, error=checks.ArgumentTypeError)
    return value


def glue(key: str, value):
    """Show `value` in the chapter's text as ``{glue:text}`key:fmt` `` and record it with the chapter's results.

    A string (a verdict such as "holds", a list of radii) is quoted with ``{glue:md}`key` `` instead.
    `key` starts with the chapter's prefix (`"ch03_dr_robust"`). Call it before `record`. Introduced in Chapter 1.
    """
    if not isinstance(key, str) or not re.fullmatch(r"ch\d\d_\w+", key):
        checks.fail("glue", "key", "look like 'ch03_name' (the chapter's prefix, then a name)", key, got=repr(key),
                    kind=str)
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


class Rows(list):
    """A chapter's results rows, one call per row: the row's fields and the wording of a spread over seeds are
    written here once, not in each chapter. `record` takes it as it takes a list of dicts. Introduced in Chapter 1.

        rows = report.Rows()
        rows.add("reference sigma", 2.0, note="median effective neighbours")
        rows.seeds("standard on D: clean accuracy", [0.95, 0.96, 0.94], paper=0.953)
        rows.measured(claims)   # every value a read claim measured
    """

    def add(self, metric: str, value, paper=None, note: str = None) -> "Rows":
        """One row: `metric`, this run's `value`, the `paper`'s value (None where it states none) and a `note`."""
        if not isinstance(metric, str) or not metric:
            checks.fail("Rows.add", "metric", "be a non-empty string", metric, error=checks.ArgumentTypeError)
        if note is not None and not isinstance(note, str):
            checks.fail("Rows.add", "note", "be a string or None", note, error=checks.ArgumentTypeError)
        row = dict(metric=metric, value=_plain(value, "Rows.add", "value", optional=True),
                   paper=_plain(paper, "Rows.add", "paper", optional=True), note=note)
        self.append(row)
        return self

    def seeds(self, metric: str, values, paper=None, note: str = None) -> "Rows":
        """One row for a measurement over seeds: the mean, as "<metric>, mean of <n> seeds", with the seeds' minimum
        and maximum (and failed seeds) in the note. `values`: one number per seed (NaN for a failed seed), or their
        `spread.Spread`."""
        s = values if isinstance(values, spread.Spread) else spread.over_seeds(
            list(values) if isinstance(values, tuple) else values, name="values", where="Rows.seeds")
        ranged = f"seeds min {_fmt(s.low)}, max {_fmt(s.high)}" + (f", {s.failed} failed" if s.failed else "")
        seeds = "1 seed" if s.n == 1 else f"{s.n} seeds"
        return self.add(f"{metric}, mean of {seeds}", s.mean, paper, "; ".join(filter(None, (ranged, note))))

    def measured(self, claims) -> "Rows":
        """One row per value that each read claim (`claims.Claim`) measured, as "<claim key>: <name>" with spaces
        for underscores ("ratio below: value tangent")."""
        for claim in claims:
            if not isinstance(claim, Claim):
                checks.fail("Rows.measured", "claims", "be read claims (claims.Claim)", claim,
                            error=checks.ArgumentTypeError)
            for name, value in (claim.measured or {}).items():
                self.add(f"{claim.key}: {name}".replace("_", " "), value,
                         note=f"measured for the claim ({claim.outcome})")
        return self


def _check_rows(rows):
    if not isinstance(rows, (list, tuple)):
        checks.fail("record", "rows", "be a list of dicts", rows, error=checks.ArgumentTypeError)
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "metric" not in row or "value" not in row:
            checks.fail("record", f"rows[{i}]", "be a dict with 'metric' and 'value'", row, got=repr(row),
                        kind=dict)
        if not isinstance(row["metric"], str):
            checks.fail("record", f"rows[{i}]['metric']", "be a string", got=repr(row["metric"]),
                        error=checks.ArgumentTypeError)
        for key in ("value", "paper"):
            value = row.get(key)
            if value is not None and not isinstance(value, (int, float, str)):
                checks.fail("record", f"rows[{i}][{key!r}]", "be a number, a string or None", value,
                            error=checks.ArgumentTypeError)


def record(chapter: str, rows: list, cfg: dict, title: str = None, claims: list = ()) -> Table:
    """Write the chapter's results table as JSON and return it for display. Introduced in Chapter 1.

    `claims` are the chapter's claims as the run read them (`claims.Claim`, from the chapter's experiment spec):
    they are stored beside the rows and shown under them, and their box is glued as `<prefix>_claims` (quoted in
    the chapter's text with ``{glue:md}`ch03_claims` ``). The zoo models the chapter asked for (`zoo.requested`)
    are stored as `zoo`, so a test can compare them with what `pagutils.scale.prefill` prepares. The torch version and
    thread count are stored as `environment`: on a CPU the same seeds give the same bits only with both the same."""
    if not isinstance(chapter, str) or not chapter or any(c in chapter for c in "/\\") or chapter.startswith("."):
        checks.fail("record", "chapter", "be a file-name-like id such as 'ch01_adversarial_examples'",
                    chapter, got=repr(chapter), kind=str)
    checks.mapping(cfg, "cfg", "record")
    _check_rows(rows)
    claims = list(claims)
    for i, claim in enumerate(claims):
        if not isinstance(claim, Claim):
            checks.fail("record", f"claims[{i}]", "be a claims.Claim (spec.claim(key).read(...))", claim,
                        error=checks.ArgumentTypeError)
    prefix = chapter.split("_")[0]
    if claims and re.fullmatch(r"ch\d\d", prefix):
        glue(f"{prefix}_claims", claims_markdown(claims))
    table = Table(
        chapter=chapter, title=title or chapter, profile=cfg.get("profile"), dataset=cfg.get("dataset"),
        seconds=time.perf_counter() - cfg["started"] if "started" in cfg else None,
        settings={k: v for k, v in cfg.items() if k != "started"},
        rows=[dict(metric=r["metric"], value=r["value"], paper=r.get("paper"), note=r.get("note")) for r in rows],
        recorded=time.strftime("%Y-%m-%d %H:%M:%S"),
        # what a CPU run's bits depend on besides the seeds: the torch build and its thread count
        environment=dict(torch=torch.__version__, threads=torch.get_num_threads()),
        glued={k: v for k, v in _GLUED.items() if k.startswith(prefix + "_")},
        claims=[c.as_dict() for c in claims],
        zoo=sorted(zoo.requested()),
    )
    paths.write_atomic(paths.results_dir() / f"{chapter}.json", json.dumps(table, indent=2, default=str))
    return table


def claims(table) -> list:
    """The claims a recorded results table holds (`claims.Claim` objects, read by the run).
    Introduced in Chapter 1."""
    return [Claim.from_dict(c) for c in table.get("claims", [])]


def verdict(table) -> str:
    """The chapter's verdict from its recorded claims: reproduced, partly, not here, or '–' without claims
    (`claims.verdict`). Introduced in Chapter 1."""
    return claims_verdict(claims(table))


def load_all(folder=None) -> list:
    """Every recorded chapter table in the results folder, sorted by chapter name. Introduced in Chapter 1."""
    folder = folder or paths.results_dir()
    return [Table(json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]
