"""Batched experiments vs. the original code's one-trial-at-a-time loop, on reduced configurations.

    python bench/bench_experiments.py [--trials 500] [--steps 200] [--loop-trials 8] [--repeat 5]

For the gradient-descent core of each experiment of ``python -m tfsvm.reproduce`` this times

* **batched**: all ``--trials`` trials of one configuration as one tensor program
  (:func:`tfsvm.training.train` with a leading trial dimension; closed-form scale-free gradients
  for every head, reduced coordinates when there are fewer queries than dimensions, small
  products through numpy's BLAS calls, a token-major softmax kernel), as the experiment modules
  run them;
* **one trial at a time**: what the official code does -- one trial after the other, with
  autograd through the model (``training.train(trial, ..., engine="autograd")`` on a single
  instance). The loop is timed on ``--loop-trials`` trials and scaled linearly to ``--trials``
  (each trial is an independent run of the same length, so the loop time is linear in the
  number of trials).

and prints seconds per configuration (best of ``--repeat`` runs for both, as ``timeit`` does: the
least disturbed run) and the ratio loop / batched. Both run on one torch thread
(:data:`tfsvm.training.CPU_THREADS`). Reduced configurations: the paper's (n, T, d) of each
experiment, fewer trials and steps (the ratio does not depend on the number of steps).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tfsvm import data, training
from tfsvm.heads import LambdaHead, MLPHead


def timed(fn, repeat: int) -> float:
    """Best of ``repeat`` wall-clock times of fn()."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cases(B: int):
    """(experiment id, label, batched data, keyword arguments of training.train, head factory or None)."""
    unit = lambda n, T, d: data.unit_sphere_data(n, T, d, seed=0, trials=B, gap=0.1)  # noqa: E731
    gd = {"lr": 0.1, "init": "default"}
    yield "convergence_types", "W, n=T=5, d=10", unit(5, 5, 10), {**gd, "param": "W"}, None
    yield "convergence_types", "KQ, n=T=5, d=10", unit(5, 5, 10), {**gd, "param": "KQ"}, None
    yield "global_probability", "W, n=20, T=5, d=15", unit(20, 5, 15), {**gd, "param": "W"}, None
    yield "global_probability", "KQ, n=20, T=5, d=15", unit(20, 5, 15), {**gd, "param": "KQ"}, None
    yield "local_convergence", "KQ, n=6, T=8, d=10", unit(6, 8, 10), {**gd, "param": "KQ", "record": "every 10"}, None
    yield "rank_sensitivity", "KQ, n=T=5, d=20, m=5", unit(5, 5, 20), {**gd, "param": "KQ", "m": 5}, None
    ortho = data.orthonormal_token_data(10, 10, seed=0, trials=B)
    yield ("lambda_head", "lambda head, T=d=10", ortho, {"lr": 0.1, "rule": "normalized_eps"},
           lambda b: LambdaHead(ortho.v if b is None else ortho.v[b], np.full(B, 0.5) if b is None else 0.5))
    mlp = data.unit_sphere_data(5, 5, 6, seed=0, trials=B)
    heads = MLPHead.random(6, seed=1, trials=B)
    yield ("multi_token", "MLP head, n=T=5, d=6", mlp, {"lr": 0.1, "rule": "normalized_eps"},
           lambda b: heads if b is None else heads.trial(b))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--loop-trials", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    B, steps, L = args.trials, args.steps, args.loop_trials
    print(f"{B} trials, {steps} steps; the one-trial loop is timed on {L} trials and scaled to {B}")
    print(f"{'experiment':<20s} {'configuration':<24s} {'batched [s]':>12s} {'one-by-one [s]':>15s} {'ratio':>8s}")
    ratios = []
    for exp_id, label, inst, kw, head_of in cases(B):
        head = None if head_of is None else head_of(None)
        training.train(inst, steps=2, head=head, **kw)  # warm-up
        t_batch = timed(lambda: training.train(inst, steps=steps, head=head, **kw), args.repeat)

        def loop() -> None:
            for b in range(L):
                training.train(inst.trial(b), steps=steps, engine="autograd",
                               head=None if head_of is None else head_of(b), **kw)

        t_loop = timed(loop, args.repeat) * B / L
        ratios.append(t_loop / t_batch)
        print(f"{exp_id:<20s} {label:<24s} {t_batch:12.2f} {t_loop:15.1f} {t_loop / t_batch:7.0f}x", flush=True)
    print(f"geometric mean ratio: {np.exp(np.mean(np.log(ratios))):.0f}x")


if __name__ == "__main__":
    main()
