import json

import pytest
import torch

import pagutils
from pagutils import profiles, report

QUICK = dict(dataset="mnist", epochs=3, eps=1.5, eps_list=[0.5, 1.0])
FULL = dict(dataset="cifar10", epochs=30, eps=0.5, eps_list=[0.25, 0.5])


def _cell(**values):
    """The namespace a notebook has after its parameters cell (and papermill's injected values)."""
    namespace = dict(profile=None, dataset=None, epochs=None, eps=None, eps_list=None, pagutils=pagutils)
    namespace.update(values)
    return namespace


def test_defaults_follow_the_profile(monkeypatch):
    monkeypatch.delenv("PAG_PROFILE", raising=False)
    assert pagutils.settings(_cell(), QUICK, FULL).epochs == 3
    assert pagutils.settings(_cell(profile="full"), QUICK, FULL).dataset == "cifar10"
    monkeypatch.setenv("PAG_PROFILE", "full")
    assert pagutils.settings(_cell(), QUICK, FULL).eps == 0.5


def test_overrides_replace_single_values_and_are_type_checked():
    cfg = pagutils.settings(_cell(epochs=7, eps=2), QUICK, FULL)
    assert cfg.epochs == 7 and cfg.eps == 2.0 and isinstance(cfg.eps, float) and cfg.dataset == "mnist"
    with pytest.raises(TypeError, match="parameter 'epochs' must be a int"):
        pagutils.settings(_cell(epochs="many"), QUICK, FULL)
    with pytest.raises(TypeError, match="parameter 'eps_list' must be a list"):
        pagutils.settings(_cell(eps_list=0.5), QUICK, FULL)


def test_unknown_profile_name_or_choice_is_a_clear_error():
    with pytest.raises(ValueError, match=r"profile must be one of \('quick', 'full', 'paper'\)"):
        pagutils.settings(_cell(profile="medium"), QUICK, FULL)
    with pytest.raises(NameError, match=r"unknown parameter\(s\) \['epoch'\]; this chapter takes: profile, dataset"):
        pagutils.settings(_cell(epoch=5), QUICK, FULL)
    with pytest.raises(ValueError, match="parameter 'dataset' must be one of"):
        pagutils.settings(_cell(dataset="svhn"), QUICK, FULL, dataset=("mnist", "cifar10"))
    with pytest.raises(AttributeError, match="no setting 'epoch'"):
        pagutils.settings(_cell(), QUICK, FULL).epoch


def test_report_writes_one_json_table_per_chapter(tmp_path, monkeypatch):
    monkeypatch.setenv("PAG_RESULTS_DIR", str(tmp_path))
    cfg = pagutils.settings(_cell(), QUICK, FULL)
    table = report.record("ch99_example", [dict(metric="accuracy", value=0.91, paper=0.95, note="CIFAR-10")], cfg,
                          title="Example")
    saved = json.loads((tmp_path / "ch99_example.json").read_text())
    assert saved["rows"][0] == dict(metric="accuracy", value=0.91, paper=0.95, note="CIFAR-10")
    assert saved["profile"] == "quick" and saved["dataset"] == "mnist" and saved["seconds"] >= 0
    assert saved["settings"]["epochs"] == 3
    assert saved["environment"] == dict(torch=torch.__version__, threads=torch.get_num_threads())
    assert "0.91" in table._repr_html_() and "0.95" in repr(table)
    assert [t["chapter"] for t in report.load_all(tmp_path)] == ["ch99_example"]
    with pytest.raises(ValueError, match=r"rows\[0\] must be a dict with 'metric' and 'value'"):
        report.record("ch99_example", [dict(name="accuracy")], cfg)


def test_settings_read_plain_values_only_not_shared_defaults_imported_beside_them():
    from pagutils.core.defaults import FULL, QUICK
    namespace = dict(profile=None, epochs=None, QUICK=QUICK, FULL=FULL, np=__import__("math"))
    cfg = profiles.settings(namespace, quick=dict(epochs=QUICK.epochs), full=dict(epochs=FULL.epochs))
    assert cfg.epochs == QUICK.epochs and "QUICK" not in cfg
    with pytest.raises(NameError, match=r"unknown parameter\(s\) \['stray'\]"):
        profiles.settings(dict(namespace, stray=[1, 2]), quick=dict(epochs=3), full=dict(epochs=30))


def test_glued_numbers_are_recorded_with_their_chapter_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PAG_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(report, "_GLUED", {})
    import torch

    assert report.glue("ch98_share", torch.tensor(0.25)) == 0.25
    report.glue("ch97_other", 3)
    cfg = pagutils.settings(_cell(), QUICK, FULL)
    report.record("ch98_example", [dict(metric="share", value=0.25)], cfg)
    saved = json.loads((tmp_path / "ch98_example.json").read_text())
    assert saved["glued"] == {"ch98_share": 0.25}
    with pytest.raises(ValueError, match="key must look like 'ch03_name'"):
        report.glue("share", 0.1)
    with pytest.raises(TypeError, match="glue: value must be one number"):
        report.glue("ch98_many", torch.ones(3))




def test_rows_write_a_row_and_a_spread_over_seeds_in_one_wording(tmp_path, monkeypatch):
    from pagutils.core.claims import Claim
    rows = report.Rows().add("reference sigma", torch.tensor(2.0), note="median neighbours")
    rows.seeds("D_R: robust accuracy", [0.30, 0.40, float("nan")], paper=0.48, note="Figure 2(b)")
    claim = Claim(key="trend", statement="s", evidence="e", rule="r", unit="correlation")
    rows.measured([claim.read(True, measured=dict(rho=0.9, p=0.01, rose_early=True))])
    assert rows[0] == dict(metric="reference sigma", value=2.0, paper=None, note="median neighbours")
    assert rows[1]["metric"] == "D_R: robust accuracy, mean of 2 seeds"
    assert rows[1]["value"] == pytest.approx(0.35) and rows[1]["paper"] == 0.48
    assert rows[1]["note"] == "seeds min 0.3, max 0.4, 1 failed; Figure 2(b)"  # as the table shows values
    assert report.Rows().seeds("m", [0.0272])[0]["metric"] == "m, mean of 1 seed"
    assert report.Rows().seeds("m", [0.57, 0.0272])[0]["note"] == "seeds min 0.027, max 0.57"
    from pagutils import spread
    spread_of = spread.over_seeds([0.30, 0.40, float("nan")])
    assert report.Rows().seeds("D_R: robust accuracy", spread_of, paper=0.48, note="Figure 2(b)")[0] == rows[1]
    assert [(r["metric"], r["value"]) for r in rows[2:]] == [("trend: rho", 0.9), ("trend: p", 0.01),
                                                            ("trend: rose early", True)]
    assert rows[2]["note"] == "measured for the claim (holds)"
    monkeypatch.setenv("PAG_RESULTS_DIR", str(tmp_path))
    table = report.record("ch99_example", rows, pagutils.settings(_cell(), QUICK, FULL))
    assert json.loads((tmp_path / "ch99_example.json").read_text())["rows"] == list(rows)
    assert "<td>trend: rose early</td><td>yes</td>" in table._repr_html_()


def test_rows_name_what_is_wrong():
    with pytest.raises(TypeError, match="Rows.add: value must be a number, a string or None, got"):
        report.Rows().add("m", [1, 2])
    with pytest.raises(TypeError, match="Rows.add: metric must be a non-empty string"):
        report.Rows().add("", 1.0)
    with pytest.raises(TypeError, match="Rows.add: note must be a string or None"):
        report.Rows().add("m", 1.0, note=3)
    with pytest.raises(TypeError, match="Rows.seeds: values must be a non-empty list"):
        report.Rows().seeds("m", [])
    with pytest.raises(TypeError, match=r"Rows.measured: claims must be read claims"):
        report.Rows().measured([dict(rho=1.0)])
