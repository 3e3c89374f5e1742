"""The chapters' live explorers (:mod:`tfsvm.explorers`), driven headlessly.

Each callback is called at two settings of the quantity the chapter's claim depends on (never
the seed), and the figure must change the way the chapter says.
"""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tfsvm import explorers, svm  # noqa: E402
from tfsvm.errors import OptionError  # noqa: E402


def drawn_margins(fig) -> dict[str, float]:
    """Chapter 2's right panel: margin of each non-optimal token, by tick label."""
    ax = fig.axes[1]
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    return dict(zip(labels, (patch.get_height() for patch in ax.patches)))


def drawn_norm(fig) -> float:
    return float(re.search(r"= ([0-9.]+)\$$", fig._suptitle.get_text()).group(1))


@pytest.fixture(scope="module")
def ch2_figures():
    figs = {gap: explorers.att_svm_margins(gap=gap) for gap in (0.3, 3.0, 4.0)}
    yield figs
    for fig in figs.values():
        plt.close(fig)


def test_ch2_a_token_near_the_optimal_one_is_a_support_token_and_costs_norm(ch2_figures):
    near, far = drawn_margins(ch2_figures[0.3]), drawn_margins(ch2_figures[3.0])
    moved = next(k for k in near if "moved" in k)
    assert near[moved] == pytest.approx(1.0, rel=1e-6)  # on the margin line: a support token
    assert far[moved] > 1.2  # beyond it: not a support token
    # a harder separation needs a larger W^mm (the margin is 1 / ||W^mm|| in the W z_i geometry)
    assert drawn_norm(ch2_figures[0.3]) > 3 * drawn_norm(ch2_figures[3.0])


def test_ch2_a_token_beyond_the_margin_does_not_move_w_mm(ch2_figures):
    assert drawn_norm(ch2_figures[3.0]) == drawn_norm(ch2_figures[4.0])
    W = [svm.solve_att_svm(X=X, Z=Z, alpha=opt, norm="fro").W
         for X, Z, opt in (explorers.moved_token_instance(g) for g in (3.0, 4.0))]
    np.testing.assert_allclose(W[0], W[1], atol=1e-9)


def test_ch2_the_moved_token_never_becomes_optimal():
    for gap in (0.05, 1.0, 5.0):
        _, _, opt = explorers.moved_token_instance(gap)
        assert opt.tolist() == [0, 0]
    with pytest.raises(OptionError, match="gap"):
        explorers.moved_token_instance(0.0)


def ch7_title(fig) -> tuple[int, float]:
    text = fig._suptitle.get_text()
    return int(re.search(r"(\d+) constraints", text).group(1)), float(re.search(r"= ([0-9.e+-]+)$", text).group(1))


@pytest.mark.parametrize("T", [3, 4])  # 2(T - 1) < d = 8: the queries k >= 2 do not span R^d
def test_ch7_the_causal_mask_deletes_constraints_and_the_first_query(T):
    figs = {mask: explorers.causal_mask(mask=mask, T=T) for mask in ("none", "causal")}
    counts = {mask: ch7_title(fig)[0] for mask, fig in figs.items()}
    assert counts == {"none": 2 * T * (T - 1), "causal": 2 * T * (T - 1) // 2}
    per_position = {mask: [p.get_height() for p in fig.axes[1].patches] for mask, fig in figs.items()}
    assert per_position["causal"] == [2 * k for k in range(T)]  # position k sees k earlier tokens
    assert per_position["none"] == [2 * (T - 1)] * T
    outside = {mask: ch7_title(fig)[1] for mask, fig in figs.items()}
    assert outside["causal"] < 1e-8 < 1e-3 < outside["none"]  # causal W^mm ignores the first query
    for fig in figs.values():
        plt.close(fig)


def test_ch7_refuses_an_unknown_mask():
    with pytest.raises(OptionError, match="mask"):
        explorers.causal_mask(mask="future")


def ch6_bars(fig) -> tuple[np.ndarray, np.ndarray, int]:
    """GD's probabilities and the oracle's, by token position; and GD's selected count."""
    ax = fig.axes[0]
    gd = np.zeros(len(ax.get_xticks()))
    for patch in ax.patches:
        gd[int(round(patch.get_x() + patch.get_width() / 2)) - 1] = patch.get_height()
    oracle = np.asarray(ax.get_lines()[0].get_ydata())
    selected = int(re.search(r": (\d+) selected by GD", ax.get_title()).group(1))
    return gd, oracle, selected


def test_ch6_lambda_spreads_attention_over_more_tokens_as_lemma_6_says():
    figs = {lam: explorers.lambda_selection(lam=lam) for lam in (0.0, 1.0)}
    (_, oracle0, k0), (gd1, oracle1, k1) = ch6_bars(figs[0.0]), ch6_bars(figs[1.0])
    assert k0 == 1 == int(np.sum(oracle0 > 0))  # linear head: one token
    assert k1 > 1 and k1 == int(np.sum(oracle1 > 0))  # λ > 0: several, as many as the oracle's support
    assert np.max(np.abs(gd1 - oracle1)) < 0.05  # and GD's probabilities approach s*(λ)
    for fig in figs.values():
        plt.close(fig)


def ch8_outcome(fig) -> tuple[int, float]:
    title = fig.axes[0].get_title()
    return int(re.search(r"selects token (\d)", title).group(1)), float(re.search(r"corr = ([0-9.]+)", title).group(1))


def test_ch8_the_start_of_p_decides_the_basin_on_the_local_dataset_only():
    outcomes = {(dataset, p2): ch8_outcome(explorers.prompt_basin(p2=p2, dataset=dataset))
                for dataset in ("local", "global") for p2 in (1.0, -1.5)}
    plt.close("all")
    assert outcomes[("local", 1.0)][0] == 1  # started high: the global token
    assert outcomes[("local", -1.5)][0] == 2  # started low: captured by the locally-optimal token
    assert outcomes[("global", 1.0)][0] == outcomes[("global", -1.5)][0] == 1  # one basin only
    assert min(corr for _, corr in outcomes.values()) > 0.99  # each run follows its token's p-SVM


def ch5_outcome(fig) -> tuple[bool, int]:
    title = fig.axes[0].get_title()
    return "inside its cone" in title, int(re.search(r"selects token (\d)", title).group(1))


def test_ch5_inside_the_cone_with_a_large_norm_gd_keeps_the_local_token():
    runs = {(angle, radius): ch5_outcome(explorers.cone_start(token=2, angle=angle, radius=radius))
            for angle, radius in ((3.0, 10.0), (10.0, 10.0), (3.0, 2.0))}
    plt.close("all")
    assert runs[(3.0, 10.0)] == (True, 2)  # inside the cone, large norm: converges to token 2 (Theorem 7)
    assert runs[(10.0, 10.0)] == (False, 1)  # outside the cone: the global token takes over
    assert runs[(3.0, 2.0)] == (True, 1)  # inside but too short: the theorem needs a large initial norm


def test_ch5_cone_membership_follows_definition_3():
    D = explorers.data_toy("local")  # scores (1, 0.9, 0); keys (-0.1, 1), (1, 0), (0, 0)
    assert explorers.in_separating_cone(D, 1, np.array([10.0, 0.5, 0.0]))  # logit of token 3 (0) > token 1 (-0.5)
    assert not explorers.in_separating_cone(D, 1, np.array([10.0, 2.0, 0.0]))  # token 1's logit 1 > 0
    assert explorers.in_separating_cone(D, 0, np.array([0.0, -5.0, 0.0]))  # nothing scores above token 1
    with pytest.raises(OptionError, match="token"):
        explorers.cone_start(token=3)


def ch1_masses(fig) -> tuple[float, float]:
    found = re.search(r"top token ([0-9.e+-]+) .* bound ([0-9.e+-]+)$", fig.axes[0].get_title())
    return float(found.group(1)), float(found.group(2))


def test_ch1_scaling_the_logits_makes_the_softmax_one_hot_within_the_bound():
    runs = {(R, gap): ch1_masses(explorers.softmax_saturation(R=R, gap=gap))
            for R, gap in ((2.0, 0.3), (20.0, 0.3), (20.0, 0.05))}
    plt.close("all")
    assert all(outside <= bound for outside, bound in runs.values())
    assert runs[(20.0, 0.3)][0] < 0.01 < 0.3 < runs[(2.0, 0.3)][0]  # larger R: nearly one-hot
    assert runs[(20.0, 0.05)][0] > 0.2  # a small gap saturates far more slowly
    with pytest.raises(OptionError, match="gap"):
        explorers.softmax_saturation(gap=0.9)


def ch9_final(fig) -> tuple[float, float]:
    found = re.search(r"= ([0-9.e+-]+)\$?, slope ([0-9.e+-]+)$", fig.axes[0].get_title())
    return float(found.group(1)), float(found.group(2))


def test_ch9_normalized_steps_align_far_faster_than_plain_ones():
    normalized, plain = (ch9_final(explorers.rate_probe(rule=rule)) for rule in ("normalized", "plain"))
    plt.close("all")
    assert normalized[0] < 0.01 * plain[0]  # after the same 2000 steps
    assert normalized[1] < plain[1] < 0  # both fall; the normalized curve more steeply
