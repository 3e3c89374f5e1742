"""Every SVM of the papers, with certificates.

Paper A (arXiv 2308.16898 v1):

* :func:`att_svm` / :func:`solve_att_svm` -- (Att-SVM) (Frobenius, W-parameterization)
  and (Att-SVM⋆) (nuclear norm, (K,Q)-parameterization with m = d) for any selection
  alpha (A §2.1, Definition 2, §5.3). Frobenius problems are solved *exactly* by a
  Lawson-Hanson least-distance / NNLS active-set solver with refinement (KKT residual
  ~1e-12); nuclear problems through their dual SDP by cvxopt (Clarabel on the primal as
  fallback and cross-check), every solution verified by its KKT residual.
* :func:`att_svm_batch` -- many Frobenius instances at once (infeasible ones flagged).
* :func:`gen_svm`, :func:`finite_part`, :func:`svm_equivalence` -- A §6, eqs. (6), (7).
* :func:`seq_svm`, :func:`causal_svm` -- A §7, eq. (11).

Paper B (arXiv 2306.13596): :func:`p_svm`, :func:`v_svm`, :func:`joint_p_svm`.

Shared: :func:`max_margin` (the single core solver) and :func:`numerical_rank`. Infeasibility raises :class:`InfeasibleError` naming the
sequences of an irreducible infeasible subsystem (Farkas certificate); no function
returns None.
"""

from ..errors import InfeasibleError, SolverError
from ._attention import SVMSolution, att_features, att_svm, att_svm_batch, solve_att_svm
from ._certificates import MaxMarginResult, numerical_rank
from ._core import max_margin
from ._gen import finite_part, gen_svm, svm_equivalence
from ._sdp import CLARABEL_OPTIONS, CLARABEL_SDP_OPTIONS
from ._sequence import causal_svm, seq_svm
from ._prompt import JointSVMSolution, joint_p_svm, p_svm, v_svm

__all__ = [
    "InfeasibleError",
    "SolverError",
    "SVMSolution",
    "MaxMarginResult",
    "JointSVMSolution",
    "CLARABEL_OPTIONS",
    "CLARABEL_SDP_OPTIONS",
    "att_features",
    "att_svm",
    "solve_att_svm",
    "att_svm_batch",
    "gen_svm",
    "finite_part",
    "svm_equivalence",
    "seq_svm",
    "causal_svm",
    "p_svm",
    "v_svm",
    "joint_p_svm",
    "max_margin",
    "numerical_rank",
]
