"""Benchmark: exact active-set Frobenius Att-SVM solver vs cvxpy + Clarabel.

For (n, T, d) = (5, 5, 10) and (20, 5, 30), 500 instances each drawn as in A's
experiments (tokens, queries and head on the unit sphere, random labels, alpha = opt
tokens), this prints

* the time per solve of ``tfsvm.svm.att_svm_batch`` (all 500 instances),
* the time per solve of ``solve_att_svm(..., method="cvxpy")`` (Clarabel, tight
  tolerances) on the first ``--cvxpy-subset`` instances (default 50), extrapolated per
  solve (cvxpy time is dominated by problem compilation, which is what users pay),
* the speed-up, the max relative difference ||W_fast - W_cvxpy||_F / ||W_cvxpy||_F on the
  common subset, and the max KKT residual of each solver.

Times are reported as process CPU time (robust on a shared machine) and wall time.
Run:  python bench/bench_svm.py [--instances 500] [--cvxpy-subset 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tfsvm import data, svm


def instances(B: int, n: int, T: int, d: int, seed: int):
    """A's protocol (:func:`tfsvm.data.unit_sphere_data`): B instances and alpha = opt."""
    inst = data.unit_sphere_data(n, T, d, seed=seed, trials=B)
    return inst.X, inst.Z, inst.opt


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def bench(n: int, T: int, d: int, B: int, sub: int, seed: int) -> dict:
    X, Z, alpha = instances(B, n, T, d, seed)
    (W, feasible, info), cpu_f, wall_f = timed(lambda: svm.att_svm_batch(X, Z, alpha, return_info=True))
    sub = min(sub, B)
    ref, kkt_c = [], []

    def run_cvxpy():
        for k in range(sub):
            if feasible[k]:
                s = svm.solve_att_svm(X[k], Z[k], alpha[k], method="cvxpy")
                ref.append((k, s.W))
                kkt_c.append(s.kkt_residual)

    _, cpu_c, wall_c = timed(run_cvxpy)
    diffs = [np.linalg.norm(W[k] - Wc) / np.linalg.norm(Wc) for k, Wc in ref]
    return {
        "n": n, "T": T, "d": d, "B": B, "sub": sub, "feasible": int(feasible.sum()),
        "fast_cpu": cpu_f / B, "fast_wall": wall_f / B,
        "cvx_cpu": cpu_c / sub, "cvx_wall": wall_c / sub,
        "max_rel_diff": max(diffs) if diffs else float("nan"),
        "kkt_fast": float(np.nanmax(info["kkt_residual"])),
        "kkt_cvxpy": max(kkt_c) if kkt_c else float("nan"),
        "gap_fast": float(np.nanmax(info["duality_gap"])),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=500)
    ap.add_argument("--cvxpy-subset", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    # warm-up (imports, first-call compilation) outside the timings
    Xw, Zw, aw = instances(2, 3, 3, 4, 123)
    svm.att_svm_batch(Xw, Zw, aw)
    svm.solve_att_svm(Xw[0], Zw[0], aw[0], method="cvxpy")

    print(f"Frobenius Att-SVM: exact active-set (att_svm_batch, {args.instances} instances) "
          f"vs cvxpy+Clarabel (first {args.cvxpy_subset} instances, extrapolated per solve)")
    print("times per solve; CPU = process time, wall = elapsed\n")
    for n, T, d in [(5, 5, 10), (20, 5, 30)]:
        r = bench(n, T, d, args.instances, args.cvxpy_subset, args.seed)
        print(f"(n, T, d) = ({n}, {T}, {d}): {r['feasible']}/{r['B']} feasible")
        print(f"  fast  : {1e3 * r['fast_cpu']:9.3f} ms CPU  {1e3 * r['fast_wall']:9.3f} ms wall   "
              f"(over {r['B']} solves)")
        print(f"  cvxpy : {1e3 * r['cvx_cpu']:9.3f} ms CPU  {1e3 * r['cvx_wall']:9.3f} ms wall   "
              f"(over {r['sub']} solves, extrapolated)")
        print(f"  speed-up: {r['cvx_cpu'] / r['fast_cpu']:.0f}x CPU, {r['cvx_wall'] / r['fast_wall']:.0f}x wall")
        print(f"  max ||W_fast - W_cvxpy||_F / ||W_cvxpy||_F = {r['max_rel_diff']:.2e}")
        print(f"  max KKT residual: fast {r['kkt_fast']:.2e} (max duality gap {r['gap_fast']:.2e}), "
              f"cvxpy {r['kkt_cvxpy']:.2e}\n")


if __name__ == "__main__":
    main()
