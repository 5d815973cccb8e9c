"""Figures: content checked on the returned Figures, and the written PNGs decoded."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from oe_opt.io import figures  # noqa: E402
from oe_opt.io.results import ENVELOPE_COLUMNS  # noqa: E402

N = 6  # periods
TITLE = figures.figure_title("Operating envelopes", "tiny", 3, "lp")


def envelope_table(days=(3,), customers=("c1", "c2"), infeasible=((3, "import", 2),),
                   per_customer=False) -> pd.DataFrame:
    rows = []
    for day in days:
        for t in range(N):
            for d in ("export", "import"):
                bad = (day, d, t) in set(infeasible)
                for k, c in enumerate(customers):
                    oe = np.nan if bad else (1.0 + t + day if d == "export" else 10.0 - t) + \
                        (k if per_customer else 0)
                    binding = "v_max:c1" if d == "export" else "line:l1"
                    rows.append([day, t, f"{t // 2:02d}:{30 * (t % 2):02d}", d, c, oe, "lp",
                                 binding, 240.0, 252.0 + 0.1 * t, 50.0 + 10 * t, 30.0 + t, 3, True,
                                 "infeasible" if bad else "ok", 0.0, 1, 0.01, 0.0, oe])
    return pd.DataFrame(rows, columns=ENVELOPE_COLUMNS)


def voltage_table(customers=("c1", "c2", "f1")) -> pd.DataFrame:
    rows = []
    for t in range(N):
        for d in ("export", "import"):
            for k, c in enumerate(customers):
                v = (250.0 + 0.5 * k + 0.1 * t) if d == "export" else (240.0 - k - 0.1 * t)
                rows.append([3, t, f"{t:02d}:00", d, c, v])
    return pd.DataFrame(rows, columns=["day", "period", "time", "direction", "customer",
                                       "voltage_v"])


def labelled(ax, text):
    return [a for a in ax.get_lines() + list(ax.collections) + list(ax.patches)
            if text in str(a.get_label())]


def test_title_names_study_day_and_method():
    assert figures.figure_title("Operating envelopes", "tiny", 3, "lp") == \
        "Operating envelopes — tiny, day 3 (lp)"
    assert figures.figure_title("X", "s", "2024-01-04 (day 3)", "bisect") == \
        "X — s, 2024-01-04 (day 3) (bisect)"


def test_envelopes_are_steps_with_caps_and_shaded_infeasible_periods():
    env = envelope_table()
    fig = figures.envelope_figure(env, TITLE, {"export": 10.0, "import": 14.0})
    assert fig._suptitle.get_text() == TITLE
    exp, imp = fig.axes[:2]
    assert [exp.get_title(), imp.get_title()] == ["export envelopes", "import envelopes"]
    assert "Export OE (kW)" in exp.get_ylabel() and "Import OE (kW)" in imp.get_ylabel()
    assert "hh:mm" in imp.get_xlabel()
    # the envelope: a step line over the period edges, the last period included
    line = labelled(exp, "OE export")[0]
    assert line.get_drawstyle() == "steps-post"
    np.testing.assert_array_equal(line.get_xdata(), np.arange(N + 1))
    np.testing.assert_allclose(line.get_ydata()[:N], 1.0 + np.arange(N) + 3)
    assert exp.get_xlim() == (0, N)
    # caps are labelled lines at the cap
    cap = labelled(exp, "cap 10 kW")[0]
    assert cap.get_ydata()[0] == 10.0 and labelled(imp, "cap 14 kW")
    # the infeasible import period is shaded and labelled, not drawn at 0 kW
    imp_line = labelled(imp, "OE import")[0]
    assert np.isnan(imp_line.get_ydata()[2]) and not np.isnan(imp_line.get_ydata()[1])
    spans = labelled(imp, "infeasible")
    assert len(spans) == 1
    assert spans[0].get_x() == pytest.approx(2.0) and spans[0].get_width() == pytest.approx(1.0)
    assert not labelled(exp, "infeasible")  # exports were all feasible
    assert any(t.get_text() == "infeasible" for t in imp.texts)
    plt.close(fig)


def test_per_customer_envelopes_draw_each_customer_and_the_mean():
    fig = figures.envelope_figure(envelope_table(per_customer=True, infeasible=()), TITLE)
    exp = fig.axes[0]
    mean = labelled(exp, "OE export (mean of 2 customers")[0]
    np.testing.assert_allclose(mean.get_ydata()[:N], 1.0 + np.arange(N) + 3 + 0.5)
    assert len([ln for ln in exp.get_lines() if ln.get_drawstyle() == "steps-post"]) == 3
    plt.close(fig)


def test_voltages_are_bands_with_labelled_limits_on_a_readable_scale():
    volt = voltage_table()
    fig = figures.voltage_figure(volt, 216.0, 253.0, TITLE, flexible=["f1"])
    exp, imp = fig.axes[:2]
    bands = {b.get_label(): b for b in exp.collections if isinstance(b, PolyCollection)}
    assert set(bands) == {"all customers: min–max", "flexible customers (1): min–max"}
    # the flexible band is f1's own voltage (k = 2), the full band spans every customer
    flex_y = bands["flexible customers (1): min–max"].get_paths()[0].vertices[:, 1]
    all_y = bands["all customers: min–max"].get_paths()[0].vertices[:, 1]
    assert flex_y.min() == pytest.approx(251.0) and all_y.min() == pytest.approx(250.0)
    assert all_y.max() == pytest.approx(251.5)
    upper = labelled(exp, "upper limit 253 V")[0]
    assert upper.get_ydata()[0] == 253.0
    # exports near 253 V: the scale follows the voltages; the far 216 V limit is named, off scale
    lo, hi = exp.get_ylim()
    assert lo > 245 and hi >= 253
    assert not labelled(exp, "lower limit") and any("216 V (off scale)" in t.get_text()
                                                     for t in exp.texts)
    assert exp.get_ylabel() == "Voltage (V)" and "export" in exp.get_title()
    plt.close(fig)


def test_loading_figure_shows_worst_line_and_transformer_and_names_the_binding_element():
    env = envelope_table(infeasible=())
    fig = figures.loading_figure(env, TITLE, 100.0, 90.0)
    exp, imp = fig.axes[:2]
    line = labelled(imp, "worst line")[0]
    np.testing.assert_allclose(line.get_ydata()[:N], 50.0 + 10 * np.arange(N))
    assert line.get_drawstyle() == "steps-post"
    np.testing.assert_allclose(labelled(imp, "transformer")[0].get_ydata()[:N], 30.0 + np.arange(N))
    assert labelled(imp, "line limit 100 %")[0].get_ydata()[0] == 100.0
    assert labelled(imp, "transformer limit 90 %")
    assert "line:l1 (6 periods)" in imp.get_title()
    assert "v_max:c1 (6 periods)" in exp.get_title()
    assert "% of rating" in imp.get_ylabel()
    plt.close(fig)


def test_days_heat_map_holds_the_envelopes_and_the_binding_kind_per_day_and_period():
    env = envelope_table(days=(3, 4), infeasible=((4, "import", 2),))
    fig = figures.days_heatmap_figure(env, "Envelopes by day — tiny, days 3–4 (lp)",
                                      {3: "2024-01-04", 4: "2024-01-05"})
    ax_exp = fig.axes[0]  # panels row by row, then their colour bars
    images = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]
    oe_exp, oe_imp, kind_exp, kind_imp = images
    np.testing.assert_allclose(oe_exp[0], 1.0 + np.arange(N) + 3)
    np.testing.assert_allclose(oe_exp[1], 1.0 + np.arange(N) + 4)
    assert np.ma.is_masked(oe_imp[1, 2]) or np.isnan(oe_imp[1, 2])
    kinds = list(figures.BINDING_KINDS)
    assert (np.asarray(kind_exp) == kinds.index("v_max")).all()
    assert kind_imp[1, 2] == kinds.index("infeasible") and kind_imp[0, 2] == kinds.index("line")
    assert [t.get_text() for t in ax_exp.get_yticklabels()] == ["2024-01-04", "2024-01-05"]
    assert "export OE (kW)" in [a.get_ylabel() for a in fig.axes]
    assert "tiny" in fig._suptitle.get_text() and "days 3–4" in fig._suptitle.get_text()
    plt.close(fig)


def test_network_chart_has_one_bar_per_network_and_direction():
    table = pd.DataFrame({"network": ["a", "a", "b", "b"],
                          "direction": ["export", "import"] * 2,
                          "mean_oe_kw": [3.0, 9.0, 5.0, 11.0],
                          "min_customer_oe_kw": [1.0, 8.0, 4.0, 10.0],
                          "infeasible": [0, 2, 1, 0]})
    fig = figures.network_figure(table, "Envelopes of 2 networks — tiny, day 3 (lp)")
    ax, ax2 = fig.axes
    widths = [p.get_width() for p in ax.patches]
    assert widths == [3.0, 5.0, 9.0, 11.0]
    assert [p.get_width() for p in ax2.patches] == [0, 1, 2, 0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert "kW" in ax.get_xlabel() and "count" in ax2.get_xlabel()
    plt.close(fig)


def test_comparison_and_objective_figures_draw_steps_per_method_and_objective():
    table = pd.DataFrame({"period": list(range(N)) * 2, "direction": ["export"] * N + ["import"] * N,
                          "time": [f"{t:02d}:00" for t in range(N)] * 2,
                          "step_kw": 1.0, "bisect_kw": 1.4, "lp_kw": 1.4005,
                          "lp_minus_bisect_kw": 0.0005, "status": "ok"})
    fig = figures.comparison_figure(table, "Envelopes by method — tiny, day 3 (step vs bisect vs lp)")
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert labels[:3] == ["step (1 kW steps)", "bisect (exact)", "lp (optimiser)"]
    diff = labelled(fig.axes[2], "exports")[0]
    np.testing.assert_allclose(diff.get_ydata(), 0.5)
    assert fig.axes[2].get_ylabel() == "lp − bisect (W)"
    plt.close(fig)
    env = envelope_table(infeasible=(), per_customer=True).assign(objective="equal", cap_kw=10.0)
    stats = pd.DataFrame({"objective": ["equal"] * 2, "direction": ["export", "import"],
                          "total_kwh": [30.0, 50.0], "min_kw": [1.0, 5.0],
                          "jain_index": [0.9, 1.0]})
    fig = figures.objectives_figure(env, stats, "Allocation objectives — tiny, day 3 (alloc)")
    assert "Jain 0.900" in fig.axes[0].get_title()
    assert len(fig.axes[0].get_lines()) == 3  # two customers and the cap
    plt.close(fig)


def png_is_a_real_figure(path, width_px, height_px) -> bool:
    """Decoded PNG of the expected size with more than a few colours on most of its rows."""
    img = mpimg.imread(path)
    if abs(img.shape[0] - height_px) > 1 or abs(img.shape[1] - width_px) > 1:
        return False
    rgb = img[..., :3].reshape(-1, 3)
    colours = np.unique((rgb * 255).astype(np.uint8), axis=0)
    return len(colours) > 20 and float(rgb.std()) > 0.05


def test_png_decoder_check_catches_a_blank_or_zeroed_image(tmp_path):
    fig = plt.figure(figsize=(4, 3))
    figures.save_figure(fig, tmp_path / "blank.png", dpi=100)
    assert not png_is_a_real_figure(tmp_path / "blank.png", 400, 300)
    fig = figures.envelope_figure(envelope_table(), TITLE)
    figures.save_figure(fig, tmp_path / "small.png", dpi=20)
    assert not png_is_a_real_figure(tmp_path / "small.png", 800, 512)  # not the expected size
    (tmp_path / "zeros.png").write_bytes(bytes(20_000))
    with pytest.raises(Exception):
        mpimg.imread(tmp_path / "zeros.png")


@pytest.mark.parametrize("kind", ["envelopes", "voltages", "loading", "days", "networks"])
def test_written_pngs_decode_to_real_images_of_the_figure_size(tmp_path, kind):
    env = envelope_table()
    fig = {"envelopes": lambda: figures.envelope_figure(env, TITLE, {"export": 10.0}),
           "voltages": lambda: figures.voltage_figure(voltage_table(), 216, 253, TITLE, ["f1"]),
           "loading": lambda: figures.loading_figure(env, TITLE),
           "days": lambda: figures.days_heatmap_figure(envelope_table(days=(3, 4)), TITLE),
           "networks": lambda: figures.network_figure(pd.DataFrame(
               {"network": ["a", "a"], "direction": ["export", "import"], "mean_oe_kw": [1.0, 2.0],
                "min_customer_oe_kw": [1.0, 2.0], "infeasible": [0, 1]}), TITLE)}[kind]()
    w, h = fig.get_size_inches() * 80
    path = figures.save_figure(fig, tmp_path / f"{kind}.png", dpi=80)
    assert png_is_a_real_figure(path, w, h)
