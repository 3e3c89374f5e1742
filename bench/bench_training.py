"""Benchmark: batched normalised GD (one tensor program for all trials) vs one trial at a time.

Setting of A's Figure 7: n = 6, T = 8, d = 10, 100 trials, 2000 normalised-GD steps (η = 0.1,
PyTorch-default init), for the W- and the (K, Q)-parameterisation (m = d), recording only the
final iterate. The batched run trains all trials in one call of :func:`tfsvm.training.train`;
the one-at-a-time loop is timed on ``--loop-trials`` trials (default 5) and extrapolated
linearly to all trials (every trial costs the same: same shapes, same number of steps).

Also checks that the batched result equals the per-trial results of the timed subset
(max |ΔW|), so the speed-up is not bought with different numbers.

Times are process CPU time (robust on a shared machine) and wall time.
Run:  python bench/bench_training.py [--trials 100] [--steps 2000] [--loop-trials 5] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tfsvm import training
from tfsvm.data import unit_sphere_data


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--loop-trials", type=int, default=5)
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--T", type=int, default=8)
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for problems the trainer considers large (small ones always use 1)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    B, k = args.trials, args.loop_trials
    data = unit_sphere_data(args.n, args.T, args.d, seed=args.seed, trials=B)
    # identical initial matrices for the batched and the per-trial runs
    rng = np.random.default_rng(args.seed)
    bound = 1 / np.sqrt(args.d)
    W0 = rng.uniform(-bound, bound, (B, args.d, args.d))
    K0, Q0 = rng.uniform(-bound, bound, (2, B, args.d, args.d))
    inits = {"W": (W0, lambda b: W0[b]), "KQ": ((K0, Q0), lambda b: (K0[b], Q0[b]))}

    print(f"normalised GD, n={args.n}, T={args.T}, d={args.d}, {B} trials x {args.steps} steps, "
          f"lr=0.1, torch {torch.__version__}, {torch.get_num_threads()} thread(s) available")
    print(f"{'param':5s} {'batched wall':>13s} {'batched cpu':>12s} {'1-by-1 wall':>12s} {'1-by-1 cpu':>11s}"
          f" {'speed-up wall':>14s} {'speed-up cpu':>13s} {'max|dW|':>9s}")
    for param in ("W", "KQ"):
        init, per_trial = inits[param]
        rb, wb, cb = timed(lambda: training.train(data, param=param, steps=args.steps, lr=0.1, init=init))

        def loop():
            return [training.train(data.trial(b), param=param, steps=args.steps, lr=0.1, init=per_trial(b))
                    for b in range(k)]

        rl, wl, cl = timed(loop)
        wl_all, cl_all = wl * B / k, cl * B / k  # extrapolated to all trials
        diff = max(np.abs(rb.W[-1, b] - r.W[-1]).max() / max(1.0, np.abs(r.W[-1]).max()) for b, r in enumerate(rl))
        print(f"{param:5s} {wb:12.2f}s {cb:11.2f}s {wl_all:11.1f}s* {cl_all:10.1f}s* {wl_all / wb:13.1f}x"
              f" {cl_all / cb:12.1f}x {diff:9.1e}")
    print(f"* one-at-a-time timed on {k} trials and extrapolated x{B / k:g} to {B} trials; "
          f"max|dW| = largest relative difference between the batched and the per-trial final W (or KQ^T).")


if __name__ == "__main__":
    main()
