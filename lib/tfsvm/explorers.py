"""Callbacks of the chapters' live explorers (:func:`tfsvm.plotting.explore`).

Each callback takes the quantity a chapter's claim depends on as a keyword argument with a
default (the figure the static site shows) and returns a matplotlib figure; the chapter hands it
to ``explore`` with a slider for that quantity. They live here, not in the chapters, so that
``tests/test_explorers.py`` can drive them headlessly.
"""

from __future__ import annotations

import numpy as np

from tfsvm import svm, tokens
from tfsvm._validation import check_positive
from tfsvm.errors import OptionError
from tfsvm.plotting import CYCLE_COLORS, new_figure

#: Chapter 2's toy: two sequences of three 2-d tokens, their queries and the head. Token 2 of
#: sequence 1 sits at ``x_11 - gap * e_1``, on the line from the optimal token x_11 to the left.
_CH2_TOKENS = np.array([[[1.0, 0.0], [1.0, 0.0], [-0.5, -0.8]],
                        [[0.2, 1.2], [-1.0, 0.5], [0.5, -1.0]]])
_CH2_QUERIES = np.array([[1.0, 0.2], [0.3, 1.0]])
_CH2_HEAD = np.array([1.0, 0.5])


def moved_token_instance(gap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chapter 2's toy with token 2 of sequence 1 moved ``gap`` to the left of the optimal token.

    Returns ``(X, Z, opt)``: tokens (2, 3, 2), queries (2, 2) and the optimal tokens of
    Definition 1 (labels +1, head ``_CH2_HEAD``; the moved token's score is 1 - gap < 1).
    """
    gap = check_positive(gap, "gap")
    X = _CH2_TOKENS.copy()
    X[0, 1, 0] -= gap
    opt = tokens.optimal_tokens(tokens.token_scores(X, np.ones(2), _CH2_HEAD))
    return X, _CH2_QUERIES.copy(), opt


def att_svm_margins(gap: float = 1.0):
    """Chapter 2: move one token and watch (Att-SVM)'s solution W^mm and the margins.

    Left: the tokens, the optimal ones starred, and for each sequence i the margin line
    ``{x : (x_{i,opt_i} - x)^T W^mm z_i = 1}``; every other token lies on it (a support token)
    or beyond it. Right: the margin ``(x_{i,opt_i} - x_it)^T W^mm z_i`` of every non-optimal token.
    """
    X, Z, opt = moved_token_instance(gap)
    sol = svm.solve_att_svm(X=X, Z=Z, alpha=opt, norm="fro")
    fig, (ax_tok, ax_mar) = new_figure(ncols=2, width=10.0, height=4.0)
    box = np.array([[-2.6, 1.6], [-1.4, 1.6]])
    for i, (marker, colour) in enumerate(zip("os", CYCLE_COLORS)):
        x_opt, w = X[i, opt[i]], sol.W @ Z[i]  # logits are x^T w; the margin line is x^T w = x_opt^T w - 1
        others = np.delete(np.arange(X.shape[1]), opt[i])
        ax_tok.plot(X[i, others, 0], X[i, others, 1], marker, color=colour, ms=7, label=f"tokens of sequence {i + 1}")
        ax_tok.plot(*x_opt, "*", color=colour, mec="k", ms=16, label=f"optimal token of sequence {i + 1}")
        ax_tok.plot(*_line_in_box(w, x_opt @ w - 1.0, box), "--", color=colour, lw=1.2,
                    label=f"margin line of sequence {i + 1}")
    ax_tok.plot(*X[0, 1], "o", ms=14, mfc="none", mec="k", label="the moved token")
    ax_tok.set(xlim=box[0], ylim=box[1], xlabel="first coordinate", ylabel="second coordinate", aspect="equal")
    ax_tok.legend(loc="lower left", fontsize=7)
    names, margins = [], []
    for i in range(X.shape[0]):
        for t in range(X.shape[1]):
            if t != opt[i]:
                names.append(f"$x_{{{i + 1}{t + 1}}}$" + (" (moved)" if (i, t) == (0, 1) else ""))
                margins.append(sol.margins[i, t])
    support = [np.isclose(m, 1.0, rtol=1e-6) for m in margins]
    ax_mar.bar(range(len(margins)), margins, color=["0.35" if s else "0.75" for s in support])
    ax_mar.axhline(1.0, color="k", lw=1, ls=":", label="margin 1 (support tokens, dark)")
    ax_mar.set_xticks(range(len(margins)), names)
    ax_mar.set(ylabel=r"margin $(x_{i,\mathrm{opt}_i} - x_{it})^\top W^{\mathrm{mm}} z_i$", yscale="log")
    ax_mar.legend(loc="upper right")
    fig.suptitle(f"moved token at distance {gap:g} from the optimal token: "
                 f"$\\|W^{{\\mathrm{{mm}}}}\\|_F = {sol.value:.3f}$", fontsize=10)
    return fig


def _line_in_box(w: np.ndarray, level: float, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two points of the line ``{x : x^T w = level}`` spanning the plot box (w in R^2, nonzero)."""
    if abs(w[1]) >= abs(w[0]):
        xs = box[0]
        return xs, (level - w[0] * xs) / w[1]
    ys = box[1]
    return (level - w[1] * ys) / w[0], ys


def causal_mask(mask: str = "causal", T: int = 4, seed: int = 0):
    """Chapter 7: switch the causal mask on and off and watch the SVM's constraints and W^mm.

    Two self-attention sequences (``tfsvm.data.sequence_data``, d = 8) with the optimal tokens of
    the chosen objective. Left: which (query k, token t) pairs sequence 1 constrains. Right: the
    number of constraints per query position over both sequences; the title gives ``||W^mm||_F``
    and the share of ``W^mm`` outside the span of the queries ``x_ik``, k >= 2 (zero for the causal
    SVM: its first queries carry no constraint).
    """
    from matplotlib.colors import ListedColormap

    from tfsvm import data
    from tfsvm._validation import check_option
    from tfsvm.experiments.sequential_causal import constraint_pattern

    causal = check_option(mask, "mask", ("causal", "none")) == "causal"
    seqs = data.sequence_data(n=2, T=T, d=8, seed=seed)
    opt = seqs.opt(causal=causal)
    solve = svm.causal_svm if causal else svm.seq_svm
    W = np.asarray(solve(X=seqs.X, Z=seqs.X, alpha=opt))
    patterns = np.stack([constraint_pattern(opt[i], causal) for i in range(seqs.X.shape[0])])
    span = np.linalg.qr(seqs.X[:, 1:].reshape(-1, seqs.X.shape[-1]).T)[0]
    outside = float(np.linalg.norm(W - W @ span @ span.T) / np.linalg.norm(W))
    fig, (ax_pat, ax_cnt) = new_figure(ncols=2, width=9.0, height=3.6)
    ax_pat.imshow(patterns[0], cmap=ListedColormap(["whitesmoke", "lightsteelblue", "tab:red"]), vmin=0, vmax=2)
    ax_pat.set_xticks(range(T), [str(t + 1) for t in range(T)])
    ax_pat.set_yticks(range(T), [str(k + 1) for k in range(T)])
    ax_pat.set(xlabel="token $t$", ylabel="query position $k$",
               title="sequence 1: optimal token (red), constraint (blue)")
    ax_pat.grid(False)
    per_position = np.sum(patterns == 1, axis=(0, 2))
    ax_cnt.bar(np.arange(1, T + 1), per_position, color=CYCLE_COLORS[0])
    ax_cnt.set(xlabel="query position $k$", ylabel="constraints (both sequences)", xticks=np.arange(1, T + 1))
    name = "causal" if causal else "sequential (no mask)"
    fig.suptitle(f"{name} SVM: {int(per_position.sum())} constraints, $\\|W^{{\\mathrm{{mm}}}}\\|_F = "
                 f"{np.linalg.norm(W):.3f}$, share outside span$\\{{x_{{ik}}: k \\geq 2\\}}$ = {outside:.1e}",
                 fontsize=10)
    return fig


#: Chapter 6's explorer: the instance and the training of its λ-slider figure (Figure 9)
_CH6 = {"T": 10, "d": 10, "seed": 5, "lr": 0.1, "loss": "logistic", "selected_above": 1e-3}


def lambda_selection(lam: float = 0.6, steps: int = 2000):
    """Chapter 6: choose λ and watch how many tokens the λ-head's attention selects (Lemma 6).

    One instance with orthonormal tokens (``data.orthonormal_token_data``, T = d = 10), normalized
    GD on W for ``steps`` steps with the head ``h(x) = v^T x - λ ||x||^2``. Bars: the final softmax
    probabilities, tokens ordered by score, selected (above 1e-3) in blue; black markers: the
    Lemma 6 oracle s*(λ), the projection of γ/(2λ) onto the simplex.
    """
    from tfsvm import data
    from tfsvm._validation import check_count, check_nonnegative
    from tfsvm.experiments import lambda_head

    lam = check_nonnegative(lam, "lam")
    steps = check_count(steps, "steps", 1)
    one = data.orthonormal_token_data(_CH6["T"], _CH6["d"], seed=_CH6["seed"])
    gamma = one.X[0] @ one.v
    rank = np.argsort(-gamma)
    batch = data.AttentionData(*(a[None] for a in (one.X, one.Z, one.Y, one.v)))  # one trial: λ is per trial
    run = lambda_head.train_lambda(batch, np.array([lam]), steps=steps, lr=_CH6["lr"], loss=_CH6["loss"],
                                   snapshot_every=steps, raw_eps=True)
    probs = np.asarray(run.probs_final)[0, 0][rank]  # (trial, sequence, token)
    oracle = lambda_head.lemma6_oracle(gamma[rank], lam)
    selected = probs > _CH6["selected_above"]
    positions = np.arange(1, gamma.size + 1)
    fig, ax = new_figure(width=6.4, height=3.8)
    ax.bar(positions[selected], probs[selected], color=CYCLE_COLORS[0], label="GD, selected")
    if not selected.all():
        ax.bar(positions[~selected], probs[~selected], color="0.6", label="GD, not selected")
    ax.plot(positions, oracle, "k_", ms=14, mew=2, label=r"Lemma 6 oracle $s^\star(\lambda)$")
    ax.set(xticks=positions, ylim=(0, 1.05), xlabel=r"token, by decreasing score $\gamma_t$",
           ylabel="final softmax probability")
    ax.set_title(f"$\\lambda = {lam:g}$: {int(selected.sum())} selected by GD, "
                 f"{int(np.sum(oracle > 0))} by the oracle")
    ax.legend(loc="upper right")
    return fig


def prompt_basin(p2: float = -1.0, dataset: str = "local", steps: int = 1000):
    """Chapter 8: choose where the prompt p starts and watch which token it ends up selecting.

    B's single-input toy (``data.prompt_single_input_data``): normalized GD on p from
    ``p(0) = (0, p2, 0)`` (η = 0.1, B's ε-normalisation). Drawn: the keys, the path of p, and the
    p-SVM directions of token 1 (global, red) and token 2 (blue, locally optimal on the "local"
    dataset only). The title names the selected token and the correlation of p with its SVM.
    """
    from tfsvm._validation import check_option

    dataset = check_option(dataset, "dataset", ("global", "local"))
    return _prompt_run(dataset, np.array([0.0, float(p2), 0.0]), steps, f"{dataset} dataset, $p(0) = (0, {p2:g})$")


def cone_start(token: int = 2, angle: float = 3.0, radius: float = 10.0, steps: int = 1000):
    """Chapter 5: start inside or outside the cone around a selection's SVM direction.

    B's single-input toy, "local" dataset, where token 2 is locally optimal. Normalized GD on p
    from ``p(0) = radius * (u rotated by angle degrees)``, u the unit p-SVM direction of ``token``
    (1 = global, 2 = local). The title says whether p(0) lies in the separating cone of the
    selection (Definition 3 with ε = 0: some token scoring below it out-ranks, in logits, every
    token scoring above it; the global token's cone is everything). Same drawing as
    :func:`prompt_basin`.
    """
    from tfsvm.experiments.prompt_single_input import selection_svm

    if token not in (1, 2):
        raise OptionError(f"token must be 1 (global) or 2 (locally optimal), got {token!r}")
    radius = check_positive(radius, "radius")
    u = np.asarray(selection_svm(data_toy("local"), token - 1)["p"][:2])
    theta = np.deg2rad(float(angle)) + np.arctan2(u[1], u[0])
    p0 = np.array([radius * np.cos(theta), radius * np.sin(theta), 0.0])
    inside = "inside" if in_separating_cone(data_toy("local"), token - 1, p0) else "outside"
    return _prompt_run("local", p0, steps, f"p(0) {angle:g}° from token {token}'s direction, "
                                           f"norm {radius:g}, {inside} its cone")


def in_separating_cone(D, alpha: int, p: np.ndarray) -> bool:
    """Definition 3 (ε = 0) for one prompt-model sequence: a token scoring below ``alpha`` has a
    larger logit ``x_t^T p`` than every token scoring above it (always true if none scores above)."""
    scores, logits = D.scores[0], D.keys[0] @ p
    high, low = scores > scores[alpha], scores < scores[alpha]
    return bool(not high.any() or (low.any() and logits[low].max() > logits[high].max()))


def data_toy(dataset: str):
    """B's single-input toy (``tfsvm.data.prompt_single_input_data``)."""
    from tfsvm import data

    return data.prompt_single_input_data(dataset)


def _prompt_run(dataset: str, p0: np.ndarray, steps: int, label: str):
    """Train p from ``p0`` on B's single-input toy and draw the path against the p-SVM directions."""
    from tfsvm import metrics, training
    from tfsvm._validation import check_count
    from tfsvm.experiments.prompt_single_input import selection_svm
    from tfsvm.plotting import CONVERGENCE_COLORS

    steps = check_count(steps, "steps", 1)
    D = data_toy(dataset)
    run = training.train_prompt(D, p0=p0[None], steps=steps, lr=0.1, record="all", rule="normalized_eps")
    path = np.asarray(run.p)[:, 0]  # (steps + 1, d)
    selected = int(np.argmax(np.asarray(run.probs)[-1, 0, 0]))
    svms = {a: selection_svm(D, a) for a in (0, 1)}
    fig, ax = new_figure(width=5.6, height=4.2)
    radius = float(np.max(np.linalg.norm(path[:, :2], axis=1)))
    for a, colour in ((0, CONVERGENCE_COLORS["global"]), (1, CONVERGENCE_COLORS["local"])):
        u = np.asarray(svms[a]["p"][:2]) / np.linalg.norm(svms[a]["p"][:2])
        kind = "global" if a == 0 else ("locally optimal" if svms[a]["locally_optimal"] else "not locally optimal")
        ax.plot([0, radius * u[0]], [0, radius * u[1]], "--", color=colour, lw=2,
                label=f"p-SVM direction of token {a + 1} ({kind})")
    ax.plot(path[:, 0], path[:, 1], "-", color="0.2", lw=1.2, label="$p(k)$")
    ax.plot(*path[0, :2], "o", color="0.2", ms=6, label="$p(0)$")
    keys = D.keys[0]
    ax.plot(keys[:, 0], keys[:, 1], "k^", ms=7, label="keys $x_t$ (first two coordinates)")
    ax.set(xlabel="$p_1$", ylabel="$p_2$", aspect="equal")
    ax.legend(loc="upper left", fontsize=7)
    ax.set_title(f"{label}: selects token {selected + 1}, "
                 f"corr = {metrics.corr(path[-1], np.asarray(svms[selected]['p'])):.4f}", fontsize=9)
    return fig


def softmax_saturation(R: float = 10.0, gap: float = 0.3):
    """Chapter 1: scale the logits by R and watch the softmax become one-hot, at rate e^{-R gap}.

    Five logits ``a = (1, 1 - gap, 0.2, -0.4, -1)`` (Chapter 1's, with an adjustable gap Δ between
    the top two; ``gap`` in (0, 0.8) keeps their order). Bars: ``S(R a)``; the title compares the
    mass outside the top token with the bound ``(T - 1) e^{-R Δ}`` of Chapter 1.
    """
    from tfsvm import attention
    from tfsvm._validation import check_nonnegative

    R = check_nonnegative(R, "R")
    gap = check_positive(gap, "gap")
    if gap >= 0.8:
        raise OptionError(f"gap must be below 0.8 so that token 2 stays second, got {gap}")
    a = np.array([1.0, 1.0 - gap, 0.2, -0.4, -1.0])
    probs = np.asarray(attention.softmax(R * a))
    outside, bound = 1.0 - probs[0], (a.size - 1) * np.exp(-R * gap)
    fig, ax = new_figure(width=6.0, height=3.6)
    positions = np.arange(1, a.size + 1)
    ax.bar(positions, probs, color=[CYCLE_COLORS[1]] + [CYCLE_COLORS[0]] * (a.size - 1))
    ax.set(xticks=positions, xticklabels=[f"$a_{t} = {x:g}$" for t, x in zip(positions, a)], ylim=(0, 1.05),
           xlabel="token $t$ and its logit", ylabel=r"$\mathbb{S}(Ra)_t$")
    ax.set_title(f"$R = {R:g}$, $\\Delta = {gap:g}$: mass outside the top token {outside:.2e} "
                 f"$\\leq$ bound {bound:.2e}", fontsize=10)
    return fig


def rate_probe(rule: str = "normalized", lr: float = 0.1, steps: int = 2000, seed: int = 0):
    """Chapter 9: how fast does W(k) align with W^mm, with normalized or plain gradient descent?

    Chapter 9's instance (``data.unit_sphere_data``, n = T = 4, d = 6, score gap 0.1, ``seed``):
    GD on W from zero, ``1 - corr(W(k), W^mm)`` on log-log axes, and the power law fitted on the
    last two thirds of the run (as in the chapter's probe).
    """
    from tfsvm import data, metrics, training
    from tfsvm._validation import check_count

    steps = check_count(steps, "steps", 30)
    D = data.unit_sphere_data(n=4, T=4, d=6, seed=seed, gap=0.1)
    W_mm = svm.att_svm(X=D.X, Z=D.Z, alpha=D.opt)
    run = training.train(D, param="W", steps=steps, lr=check_positive(lr, "lr"), rule=rule,
                         record=f"every {max(1, steps // 100)}")
    k, gap = np.asarray(run.steps[1:]), np.asarray(metrics.one_minus_corr(run.W[1:], W_mm))
    slope = metrics.loglog_slope(k, gap, x_min=steps // 3)
    fig, ax = new_figure(width=6.0, height=3.8)
    kind = rule
    ax.loglog(k, gap, color=CYCLE_COLORS[0], label=f"{kind} GD, $\\eta = {lr:g}$: fitted slope {slope:.2f}")
    ax.set(xlabel="iteration $k$", ylabel=r"$1-\mathrm{corr}(W(k), W^{\mathrm{mm}})$")
    ax.legend(loc="lower left")
    ax.set_title(f"{kind} GD: final $1-\\mathrm{{corr}}$ = {gap[-1]:.2e}, slope {slope:.2f}", fontsize=10)
    return fig
