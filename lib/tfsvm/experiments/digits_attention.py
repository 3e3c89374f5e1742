"""Beyond the paper: attention trained on real images (scikit-learn digits, :mod:`tfsvm.images`).

Two binary tasks (0 vs 1, easy; 3 vs 8, hard), each image 16 patch tokens of 2×2 pixels in
dimension d, the query the mean token, the linear head v a probe on mean-pooled tokens
(:func:`tfsvm.images.digits_task`). Two regimes with the same d: *over-parameterized*
(n = ``n_over`` ≤ d training images, where Theorem 1 guarantees that (Att-SVM) is feasible for
every selection) and *under-parameterized* (all training images, n ≫ d: feasibility is an
outcome, reported). In each, normalized GD (η = ``lr``, App. F) trains W and (K,Q) with the probe
head (a); the recorded iterates give the attention sparsity (:func:`tfsvm.metrics.mass_fraction`),
entropy, ‖W‖_F, train/test accuracy, and the correlation with the max-margin SVM of the patches GD
selects at the end (W_α^mm, and, over-parameterized and if ``nuclear``, the nuclear W⋆,α^mm for
(K,Q)). The selected patches are sorted by Definition 1 (optimal) and Definition 2 (locally
optimal), and the W run is compared with Section 6's split W^SVMeq = W^fin + R·W̄^mm (Gen-SVM): always
when over-parameterized; when under-parameterized if (Att-SVM) for GD's selection is infeasible or
``split_under`` is set (Gen-SVM on all images takes minutes: paper scale). In the over-parameterized
regime two more heads are trained: (b) v jointly with W (:func:`tfsvm.training.train_joint`, B's joint training;
limits compared with B's v-SVM and the 𝒮-relaxed W-SVM) and (c) the MLP head of Section 6 (limit
compared with W^SVMeq, Gen-SVM and the one-token Att-SVM).

``PAPER`` encodes the paper's only statement about real images, the qualitative claims of its
"empirical insights" slide (an image at five epochs: sparsity 0.99 → 0.21, ‖W‖_F ≈ 0.3·10³ →
7.6·10³), plus the theory's alignment prediction, as fractions of runs that satisfy them:
``sparsity_falls`` (final mass fraction below the initial one), ``norm_grows`` (final ‖W‖_F at
least 10× the initial one) and ``aligned`` (over-parameterized runs whose final correlation with
the SVM of their own selection, Frobenius for W and nuclear for (K,Q), is at least 0.9).
"""

from __future__ import annotations

from typing import Any, Callable

import matplotlib.pyplot as plt
import numpy as np

from .. import images, metrics, svm, tokens, training
from ..attention import softmax
from ..errors import InfeasibleError, SolverError
from ..heads import MLPHead
from ..plotting import PARAM_COLORS, PARAM_LABELS, new_figure
from .convergence_types import PARAMS

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"pairs": [[0, 1]], "d": 16, "n_over": 16, "n_under": 48, "steps": 100, "lr": 0.1,
              "record_every": 20, "nuclear": True, "heads": True, "maps": 3, "split_under": False},
    "book": {"pairs": [[0, 1], [3, 8]], "d": 32, "n_over": 32, "n_under": None, "steps": 1000, "lr": 0.1,
             "record_every": 50, "nuclear": True, "heads": True, "maps": 6, "split_under": False},
    "paper": {"pairs": [[0, 1], [3, 8]], "d": 64, "n_over": 64, "n_under": None, "steps": 2000, "lr": 0.1,
              "record_every": 100, "nuclear": True, "heads": True, "maps": 6, "split_under": True},
}

PAPER: dict[str, dict[str, float]] = {"claims": {"sparsity_falls": 1.0, "norm_grows": 1.0, "aligned": 1.0}}

REGIMES = ("over", "under")
#: correlation above which a run counts as aligned with its SVM (``claims/aligned``)
ALIGNED = 0.9
#: thresholds of Section 6 (Figure 8): selected s > 1e-3, masked s < 1e-6
SELECTED_ABOVE, MASKED_BELOW = 1e-3, 1e-6


# --------------------------------------------------------------------------- helpers


def probs_of(data, Ws: np.ndarray) -> np.ndarray:
    """Attention probabilities s_i = S(X_i W z_i) for recorded W's (R, d, d) → (R, n, T)."""
    return softmax(np.einsum("ntd,rde,ne->rnt", data.X, Ws, data.Z))


def accuracy(data, probs: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
    """Fraction of images with sign(vᵀ X_iᵀ s_i) = Y_i, for probabilities (R, n, T) → (R,)."""
    v = data.v if v is None else v
    f = np.einsum("rnt,nt->rn", probs, data.X @ v)
    return np.mean(np.sign(f) == data.Y, axis=-1)


def _floats(a: Any) -> list:
    return np.asarray(a, dtype=float).tolist()


def census(X: np.ndarray, Z: np.ndarray, scores: np.ndarray, alpha: np.ndarray) -> dict[str, Any]:
    """Selected-patch census: per image, optimal (Definition 1), only locally optimal (Definition 2:
    every support index of (Att-SVM) for α scores below α_i) or neither; ``None`` fractions when
    (Att-SVM) for α is infeasible (Definition 2 then has no support indices). Also returns the
    Frobenius solution ``W`` (or None) and one example image index per class."""
    n = len(alpha)
    optimal = scores[np.arange(n), alpha] >= scores.max(axis=1)
    test = tokens.is_locally_optimal(X, Z, scores, alpha)
    out: dict[str, Any] = {"feasible": bool(test.feasible), "optimal": float(optimal.mean())}
    if not test.feasible:
        out.update({"local": None, "neither": None, "W": None, "examples": {}})
        return out
    bad = np.zeros(n, dtype=bool)
    bad[[i for i, _ in test.violations]] = True
    local = ~optimal & ~bad
    neither = ~optimal & bad
    out.update({"local": float(local.mean()), "neither": float(neither.mean()), "W": test.solution.W,
                "margin": float(1.0 / np.linalg.norm(test.solution.W))})
    out["examples"] = {k: int(np.flatnonzero(m)[0]) for k, m in
                       (("optimal", optimal), ("local", local), ("neither", neither)) if m.any()}
    return out


def section6_split(X: np.ndarray, Z: np.ndarray, probs: np.ndarray, W_gd: np.ndarray) -> dict[str, Any]:
    """A §6 for one final W: O_i = {s_it > 1e-3}, W^fin (eq. (7)), Gen-SVM W^mm, W^SVMeq; correlations of
    W_gd with W^SVMeq and W^mm, the number of images selecting several patches and the largest
    probability below the selected threshold. Figure 8 drops instances with a probability between
    1e-6 and 1e-3; a dataset of images cannot be dropped, so such patches count as masked and
    ``largest_unselected`` reports how far from masked they are. ``status`` names the step that failed."""
    sets = tokens.selection_sets(probs, SELECTED_ABOVE, MASKED_BELOW)
    out: dict[str, Any] = {"multi": int(np.sum(sets.selected.sum(-1) > 1)),
                           "largest_unselected": float(np.max(np.where(sets.selected, 0.0, probs))),
                           "corr_svmeq": None, "corr_genmm": None, "status": "ok"}
    if sets.selected.all():
        out["status"] = "no patch masked yet"
        return out
    try:
        W_fin = svm.finite_part(X, Z, probs, sets.selected)
    except InfeasibleError:
        out["status"] = "eq. (7) has no solution"
        return out
    try:
        W_mm = svm.gen_svm(X, Z, sets.selected)
    except InfeasibleError:
        out["status"] = "Gen-SVM infeasible"
        return out
    except SolverError:
        out["status"] = "Gen-SVM badly conditioned (solver failed)"
        return out
    out["corr_svmeq"] = float(metrics.corr(W_gd, svm.svm_equivalence(W_fin, W_mm, W_gd)))
    out["corr_genmm"] = float(metrics.corr(W_gd, W_mm))
    return out


# --------------------------------------------------------------------------- one regime


def _curves(task: images.DigitsTask, Ws: np.ndarray) -> tuple[dict[str, list], np.ndarray]:
    p_tr, p_te = probs_of(task.train, Ws), probs_of(task.test, Ws)
    curves = {"sparsity": _floats(metrics.mass_fraction(p_tr)), "entropy": _floats(metrics.mean_entropy(p_tr)),
              "norm": _floats(np.linalg.norm(Ws, axis=(-2, -1))), "train_acc": _floats(accuracy(task.train, p_tr)),
              "test_acc": _floats(accuracy(task.test, p_te))}
    return curves, p_te


def _param_run(task: images.DigitsTask, param: str, config: dict, seed: int, over: bool) -> dict[str, Any]:
    """Head (a): normalized GD on W or (K,Q) (one :func:`tfsvm.training.train` call), then curves,
    feasibility, census, correlations with the SVMs of the final selection and ranks."""
    tr = task.train
    res = training.train(tr, param=param, steps=config["steps"], lr=config["lr"], init="default",
                         seed=seed, record=f"every {config['record_every']}")
    curves, p_te = _curves(task, res.W)
    alpha = res.selected
    cen = census(tr.X, tr.Z, tr.scores, alpha)
    out: dict[str, Any] = {"curves": curves, "feasible": cen["feasible"], "margin": cen.get("margin"),
                           "census": {k: cen[k] for k in ("optimal", "local", "neither")},
                           "examples": cen["examples"], "alpha": [int(a) for a in alpha],
                           "final": {k: c[-1] for k, c in curves.items()}}
    if cen["feasible"]:
        curves["corr_fro"] = _floats(metrics.corr(res.W, cen["W"]))
        out["final"]["corr_fro"] = curves["corr_fro"][-1]
        out["rank_fro"] = int(svm.numerical_rank(cen["W"]))
    if param == "KQ":
        out["rank_gd"] = int(svm.numerical_rank(res.W[-1], rtol=1e-3))
        if config["nuclear"] and over and cen["feasible"]:
            W_nuc = svm.att_svm(tr.X, tr.Z, alpha, norm="nuc")
            curves["corr_nuc"] = _floats(metrics.corr(res.W, W_nuc))
            out["final"]["corr_nuc"] = curves["corr_nuc"][-1]
            out["rank_nuc"] = int(svm.numerical_rank(W_nuc))
    elif over or not cen["feasible"] or config["split_under"]:  # Gen-SVM on all images is slow: paper scale
        out["split"] = section6_split(tr.X, tr.Z, res.probs_final, res.W[-1])
    out["steps"] = [int(k) for k in res.steps]
    out["_test_probs"] = p_te
    return out


def _heads(task: images.DigitsTask, config: dict, seed: int) -> dict[str, Any]:
    """Heads (b) joint (v, W) and (c) MLP, in one regime."""
    tr = task.train
    jt = training.train_joint(tr, config["steps"], config["lr"], init="default", seed=seed, rule="normalized_eps",
                              record=f"every {config['record_every']}")
    alpha = np.argmax(jt["probs"], axis=-1)
    joint: dict[str, Any] = {"test_acc": float(accuracy(task.test, probs_of(task.test, jt["W"][-1:]), jt["v"][-1])[0]),
                             "train_acc": float(accuracy(tr, jt["probs"][None], jt["v"][-1])[0]),
                             "norm_W": float(np.linalg.norm(jt["W"][-1])), "norm_v": float(np.linalg.norm(jt["v"][-1])),
                             "sparsity": float(metrics.mass_fraction(jt["probs"]))}
    try:
        keys = np.einsum("ntd,ne->ntde", tr.X, tr.Z).reshape(tr.n, tr.T, -1)  # vec(x_it z_iᵀ): pᵀk = x_itᵀ W z_i
        sol = svm.joint_p_svm(tr.X, tr.Y, alpha, keys=keys)
        W_rel = sol.p.reshape(tr.d, tr.d)
        joint.update({"feasible": True, "support": int(len(sol.support)),
                      "corr_v": _floats(jt["v"] @ sol.v / np.linalg.norm(jt["v"], axis=1) / np.linalg.norm(sol.v)),
                      "corr_relaxed": _floats(metrics.corr(jt["W"], W_rel))})
        try:
            joint["corr_unrelaxed"] = _floats(metrics.corr(jt["W"], svm.att_svm(tr.X, tr.Z, alpha)))
        except InfeasibleError:
            joint["corr_unrelaxed"] = None
    except InfeasibleError:
        joint["feasible"] = False
    head = MLPHead.random(tr.d, seed=seed + 7)
    res = training.train(tr, param="W", steps=config["steps"], lr=config["lr"], init="default",
                         seed=seed, head=head, rule="normalized_eps", record=f"every {config['record_every']}")
    mlp = section6_split(tr.X, tr.Z, res.probs_final, res.W[-1])
    try:
        mlp["corr_1token"] = float(metrics.corr(res.W[-1], svm.att_svm(tr.X, tr.Z, res.selected)))
    except InfeasibleError:
        mlp["corr_1token"] = None
    mlp["sparsity"] = float(metrics.mass_fraction(res.probs_final))
    return {"joint": joint, "mlp": mlp, "steps": [int(k) for k in jt["steps"]]}


# --------------------------------------------------------------------------- run / plot


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """For every pair and regime: curves, feasibility, census, correlations (see the module docstring);
    ``maps``: test-image attention maps of the over-parameterized W run at five recorded steps;
    ``claims``: the fractions of ``PAPER``."""
    results: dict[str, Any] = {}
    total, done = 2 * len(config["pairs"]), 0
    for pair in config["pairs"]:
        key = f"{pair[0]}v{pair[1]}"
        results[key] = {}
        for regime in REGIMES:
            n = config["n_over"] if regime == "over" else config["n_under"]
            task = images.digits_task(tuple(pair), d=config["d"], n_train=n, seed=seed)
            entry: dict[str, Any] = {"n": task.train.n, "n_test": task.test.n, "T": task.train.T, "d": task.train.d,
                                     "probe_test_acc": float(accuracy(task.test, np.full((1,) + task.test.X.shape[:2],
                                                                                          1.0 / task.test.T))[0])}
            for param in PARAMS:
                entry[param] = _param_run(task, param, config, seed + 1, regime == "over")
            p_te = entry["W"].pop("_test_probs")
            entry["KQ"].pop("_test_probs")
            for param in PARAMS:
                r = entry[param]
                r["examples"] = {cls: {"image": _floats(task.images_train[i]), "selected": r["alpha"][i],
                                       "optimal": int(np.argmax(task.train.scores[i])), "label": float(task.train.Y[i])}
                                 for cls, i in r["examples"].items()}
            if regime == "over":
                R = len(entry["W"]["steps"])
                snaps = sorted({0, R // 8, R // 4, R // 2, R - 1})
                m = config["maps"]
                results[key]["maps"] = {"steps": [entry["W"]["steps"][j] for j in snaps],
                                        "probs": _floats(p_te[snaps, :m]), "images": _floats(task.images_test[:m]),
                                        "labels": _floats(task.test.Y[:m])}
                if config["heads"]:
                    entry["heads"] = _heads(task, config, seed + 1)
            results[key][regime] = entry
            done += 1
            if progress is not None:
                progress(done, total)
    results["claims"] = claims(results)
    return results


def _runs(results: dict[str, Any]):
    for key, per in results.items():
        if key == "claims":
            continue
        for regime in REGIMES:
            for param in PARAMS:
                yield key, regime, param, per[regime][param]


def claims(results: dict[str, Any]) -> dict[str, float]:
    """Fractions of runs with falling sparsity, ≥10× norm growth, and (over-parameterized) alignment ≥ 0.9."""
    runs = list(_runs(results))
    falls = [r["curves"]["sparsity"][-1] < r["curves"]["sparsity"][0] for *_, r in runs]
    grows = [r["curves"]["norm"][-1] >= 10 * r["curves"]["norm"][0] for *_, r in runs]
    aligned = [r["final"].get("corr_fro" if p == "W" else "corr_nuc", -1.0) >= ALIGNED
               for _, reg, p, r in runs if reg == "over"]
    return {"sparsity_falls": float(np.mean(falls)), "norm_grows": float(np.mean(grows)),
            "aligned": float(np.mean(aligned))}


_STYLES = {"over": "-", "under": "--"}


def plot(results: dict[str, Any], ax=None):
    """Five panels over training, one line per task, regime and parameterization: sparsity (fraction of
    patches holding 90% of the mass), entropy, ‖W‖_F, correlation with the SVM of the final selection (Frobenius
    for W, nuclear for (K,Q) where computed), test accuracy."""
    if ax is None:
        fig, axes = new_figure(ncols=5, width=18.0, height=3.6)
    else:
        axes, fig = np.atleast_1d(ax), np.atleast_1d(ax)[0].figure
    keys = [k for k in results if k != "claims"]
    markers = dict(zip(keys, ("o", "s", "^", "d")))
    for key, regime, param, r in _runs(results):
        style = dict(color=PARAM_COLORS[param], ls=_STYLES[regime], marker=markers[key], markevery=5, ms=3,
                     label=f"{key.replace('v', ' vs ')}, {regime}, {PARAM_LABELS[param]}")
        c, k = r["curves"], r["steps"]
        axes[0].plot(k, c["sparsity"], **style)
        axes[1].plot(k, c["entropy"], **style)
        axes[2].plot(k, c["norm"], **style)
        corr = c.get("corr_fro" if param == "W" else "corr_nuc")
        if corr is not None:
            axes[3].plot(k, corr, **style)
        axes[4].plot(k, c["test_acc"], **style)
    labels = ("fraction of patches holding 90% mass", "attention entropy (nats)", r"$\|W(k)\|_F$",
              "corr with SVM of selected patches", "test accuracy")
    for a, lab, t in zip(axes, labels, "abcde"):
        a.set_xlabel("iteration $k$")
        a.set_ylabel(lab)
        a.set_title(f"({t})")
    axes[2].set_yscale("log")
    axes[4].legend(fontsize=6, loc="lower right")
    return fig


def plot_maps(results: dict[str, Any], key: str, axes=None):
    """Attention maps of test images (columns) at recorded steps (rows); first row the images."""
    mp = results[key]["maps"]
    P, imgs, steps = np.array(mp["probs"]), np.array(mp["images"]), mp["steps"]
    E, m, T = P.shape
    g = int(round(np.sqrt(T)))
    if axes is None:
        fig, axes = new_figure(ncols=m, nrows=E + 1, width=1.3 * m, height=1.3 * (E + 1))
    fig = axes[0, 0].figure
    for j in range(m):
        axes[0, j].imshow(imgs[j], cmap="gray_r")
        axes[0, j].set_title(f"label {int(mp['labels'][j]):+d}", fontsize=8)
        for e in range(E):
            im = axes[e + 1, j].imshow(P[e, j].reshape(g, g), cmap="magma", vmin=0, vmax=1)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
        a.grid(False)
    axes[0, 0].set_ylabel("image")
    for e in range(E):
        axes[e + 1, 0].set_ylabel(f"$k={steps[e]}$")
    fig.colorbar(im, ax=axes[1:, :], shrink=0.6, label="softmax weight $s_{it}$")
    return fig


def table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per task, regime and parameterization: n, d, feasibility, final correlation with the SVM of
    the selected patches (Frobenius; nuclear for (K,Q)), census, final sparsity, ‖W‖_F, accuracies, margin."""
    rows = []
    for key, regime, param, r in _runs(results):
        e = results[key][regime]
        f, c = r["final"], r["census"]
        rows.append({"task": key.replace("v", " vs "), "regime": regime, "param": param, "n": e["n"], "d": e["d"],
                     "feasible": r["feasible"], "corr_fro": f.get("corr_fro"), "corr_nuc": f.get("corr_nuc"),
                     "optimal": c["optimal"], "local": c["local"], "neither": c["neither"],
                     "sparsity": f["sparsity"], "norm": f["norm"], "train_acc": f["train_acc"],
                     "test_acc": f["test_acc"], "probe_test_acc": e["probe_test_acc"], "margin": r["margin"]})
    return rows


def plot_examples(results: dict[str, Any], key: str, regime: str = "over", param: str = "W", axes=None):
    """One training image per census class, the patch GD selects (solid) and the optimal patch (dashed)."""
    ex = results[key][regime][param]["examples"]
    if axes is None:
        fig, axes = new_figure(ncols=max(len(ex), 1), width=2.4 * max(len(ex), 1), height=2.6)
    axes = np.atleast_1d(axes)
    names = {"optimal": "optimal (Def. 1)", "local": "locally optimal (Def. 2)", "neither": "neither"}
    for a, (cls, e) in zip(axes, ex.items()):
        a.imshow(np.array(e["image"]), cmap="gray_r")
        for t, ls, col in ((e["optimal"], "--", "tab:green"), (e["selected"], "-", "tab:red")):
            r, c = divmod(t, 4)
            a.add_patch(plt.Rectangle((2 * c - 0.5, 2 * r - 0.5), 2, 2, fill=False, ls=ls, lw=2.2, ec=col))
        a.set_title(f"{names[cls]}, $Y={int(e['label']):+d}$", fontsize=8)
        a.set_xticks([])
        a.set_yticks([])
        a.grid(False)
    axes[0].plot([], [], color="tab:red", label="selected by GD")
    axes[0].plot([], [], color="tab:green", ls="--", label="optimal patch")
    axes[0].legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, -0.3), ncol=2)
    return axes[0].figure


def plot_heads(results: dict[str, Any], ax=None):
    """Head (b): corr of v(k) with B's v-SVM and of W(k) with the relaxed and unrelaxed W-SVMs, per task."""
    if ax is None:
        fig, ax = new_figure(width=6.4, height=3.6)
    styles = {"corr_v": ("$v(k)$ vs v-SVM", "tab:green"), "corr_relaxed": ("$W(k)$ vs relaxed W-SVM", "tab:blue"),
              "corr_unrelaxed": ("$W(k)$ vs Att-SVM (unrelaxed)", "tab:gray")}
    for key, ls in zip([k for k in results if k != "claims"], ("-", ":")):
        h = results[key]["over"].get("heads")
        if not h or not h["joint"].get("feasible"):
            continue
        for name, (label, col) in styles.items():
            if h["joint"].get(name) is not None:
                ax.plot(h["steps"], h["joint"][name], ls=ls, color=col, label=f"{key.replace('v', ' vs ')}: {label}")
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel("correlation")
    ax.legend(fontsize=7)
    return ax.figure
