"""Figures the chapters share: the bars drawn are the numbers given."""
import math

import matplotlib.pyplot as plt
import pytest

from pagutils import plots


def test_bar_chart_draws_one_bar_per_label_and_series_at_the_given_heights():
    ax = plots.bar_chart(["D_R", "D_NR", "original"], {"clean": [0.9, 0.8, 0.95], "robust": [0.3, 0.1, 0.2]},
                         percent=True, chance=0.1)
    bars = ax.patches
    assert len(bars) == 6
    assert [round(b.get_height(), 6) for b in bars] == [90.0, 80.0, 95.0, 30.0, 10.0, 20.0]
    centres = [b.get_x() + b.get_width() / 2 for b in bars]
    assert centres[:3] == pytest.approx([-0.2, 0.8, 1.8]) and centres[3:] == pytest.approx([0.2, 1.2, 2.2])
    assert ax.get_ylim() == (0, 100) and ax.lines[0].get_ydata()[0] == pytest.approx(10.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["chance", "clean", "robust"]


def test_one_series_gets_one_colour_per_bar_and_no_legend():
    ax = plots.bar_chart(["a", "b"], {"mass": [0.5, 0.25]}, colors=[["tab:gray", "tab:blue"]])
    assert [b.get_height() for b in ax.patches] == [0.5, 0.25]
    assert ax.patches[0].get_facecolor() != ax.patches[1].get_facecolor() and ax.get_legend() is None


@pytest.mark.parametrize("kwargs,message", [
    (dict(labels=["a", "b"], series={"x": [1.0]}), r"series\['x'\] must hold one value per label \(2\), got 1"),
    (dict(labels=["a"], series={}), "series must hold at least one entry"),
    (dict(labels=["a"], series={"x": [1.0]}, colors=["r", "g"]), "colors must hold one entry per series"),
])
def test_bad_bar_charts_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.bar_chart(**kwargs)


def test_per_seed_bars_show_the_mean_with_a_min_max_error_bar():
    ax = plots.bar_chart(["D_R", "D"], {"robust": [[0.2, 0.3, 0.4], [0.1, 0.1, 0.1]]}, percent=True)
    assert [round(b.get_height(), 6) for b in ax.patches] == [30.0, 10.0]
    segments = ax.collections[0].get_segments()  # the error bars, one per bar
    assert [round(float(s[0][1]), 6) for s in segments] == [20.0, 10.0]
    assert [round(float(s[1][1]), 6) for s in segments] == [40.0, 10.0]


def test_per_seed_curves_draw_the_mean_and_a_min_max_band():
    ax = plots.accuracy_curves([1.0, 2.0], {"D_R": [[0.5, 0.2], [0.7, 0.4]], "D": [0.6, 0.1]})
    assert list(ax.lines[0].get_ydata()) == pytest.approx([60.0, 30.0])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(20.0) and band.max() == pytest.approx(70.0)
    assert len(ax.collections) == 1  # one curve without seeds has no band
    with pytest.raises(ValueError, match=r"curves\['D'\] must hold equally long lists, .*got lengths \[1, 2\]"):
        plots.accuracy_curves([1.0, 2.0], {"D": [[0.5, 0.2], [0.7]]})


def test_a_failed_seed_is_left_out_of_bars_and_curves_as_over_seeds_leaves_it_out():
    ax = plots.bar_chart(["a", "b"], {"x": [[0.2, math.nan, 0.4], [math.nan, math.nan]]})
    heights = [b.get_height() for b in ax.patches]
    assert heights[0] == pytest.approx(0.3) and math.isnan(heights[1])  # no seed finished: no bar
    ax = plots.accuracy_curves([1.0, 2.0], {"one run": [0.5, math.nan]})
    ydata = list(ax.lines[0].get_ydata())
    assert ydata[0] == pytest.approx(50.0) and math.isnan(ydata[1]) and len(ax.collections) == 0
    with pytest.raises(ValueError, match=r"accuracy_curves: every entry of curves\['c'\] at eps_list\[1\] must be"):
        plots.accuracy_curves([1.0, 2.0], {"c": [[0.5, 0.4], [0.6, "x"]]})
    with pytest.raises(ValueError, match=r"curves\['c'\] must hold every seed's accuracies as a list when the first"):
        plots.accuracy_curves([1.0, 2.0], {"c": [[0.5, 0.4], 0.6]})


# ---------------------------------------------------------------------------------------------------------------
# legends that hide data (the notebooks warn as each figure is shown; the browser check fails on that warning)


def test_a_legend_over_the_points_is_reported_and_one_beside_them_is_not():
    fig, ax = plt.subplots()
    ax.plot(range(10), range(10), marker="o", label="rising")
    ax.axhline(4.5, color="gray", label="reference")  # spans the axes: not data
    ax.legend(loc="center")
    found = plots.legend_covers(fig)
    assert len(found) == 1 and "of rising" in found[0] and "reference" not in found[0]
    ax.legend(loc="lower right")
    assert plots.legend_covers(fig) == []
    plt.close(fig)


def test_bar_tops_and_scatter_points_count_as_data():
    fig, (left, right) = plt.subplots(1, 2)
    left.bar(range(5), [5, 5, 5, 5, 5], label="bars")
    left.legend(loc="upper center")
    right.scatter([0.5], [0.5], label="one point")
    right.legend(loc="center")
    found = plots.legend_covers(fig)
    assert len(found) == 2 and any("bars" in f for f in found) and any("one point" in f for f in found)
    plt.close(fig)


def test_legend_below_hides_no_data_and_clears_the_x_label():
    fig, axes = plt.subplots(2, 1)
    for ax in axes:
        for k in range(4):
            ax.plot(range(10), [k * i for i in range(10)], marker="o", label=f"line {k}")
        ax.set_xlabel("x label")
        plots.legend_below(ax)
    fig.tight_layout()
    assert plots.legend_covers(fig) == []
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        legend, label = ax.get_legend().get_window_extent(renderer), ax.xaxis.label.get_window_extent(renderer)
        assert legend.y1 <= label.y0 + 1  # entirely below the x label (pixels)
    plt.close(fig)


def test_text_under_the_course_size_is_reported():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="line")
    ax.set_title("title")
    ax.legend()
    assert plots.small_text(fig) == []  # the course style: nothing under 12 pt
    ax.set_xlabel("tiny label", fontsize=8)
    found = plots.small_text(fig)
    assert len(found) == 1 and "tiny label" in found[0] and "8 pt" in found[0]
    plt.close(fig)
