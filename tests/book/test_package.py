"""The package as users install it: ``python -m build`` gives an sdist and a wheel carrying
``tfsvm.__version__``; the wheel installs into a fresh venv (torch pinned by ``constraints.txt``,
as the Makefile does) and works there without the repository on the path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import tfsvm
from conftest import ROOT

# One solver call on an instance solved by hand: two sequences with tokens e1, e2, query e1, token 1
# selected. The only constraint is (e1 - e2)^T W e1 = W11 - W21 >= 1, so the minimum-Frobenius-norm
# solution has W11 = 1/2, W21 = -1/2 and zeros elsewhere.
SMOKE = """
import json, numpy as np, tfsvm
from tfsvm import svm
print(tfsvm.__file__)
print(tfsvm.__version__)
X = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
Z = np.array([[1.0, 0.0], [1.0, 0.0]])
W = svm.att_svm(X, Z, np.array([0, 0]))
print(json.dumps(W.tolist()))
"""


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


# Outside the repository's own state: no build outputs, no PYTHONPATH (pip would take a tfsvm
# found on it as already installed), no variables of the book build.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TFSVM_RECORD_DIR", "TFSVM_SCALE")}
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "_build", "_mathjax", "dist", "build", "results",
                                     "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis")


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel built like the release workflow (``python -m build``; the wheel from the sdist).

    From a copy of the sources (the build writes egg-info next to them); ``--no-isolation``: the
    build backend comes from this venv instead of a fresh download.
    """
    tmp = tmp_path_factory.mktemp("package")
    source, out = tmp / "source", tmp / "dist"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES, symlinks=True)
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)], env=CLEAN_ENV)
    return out


def test_build_gives_sdist_and_wheel_with_the_package_version(dist):
    version = tfsvm.__version__
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    assert sdist.name == f"tfsvm-{version}.tar.gz"
    assert wheel.name == f"tfsvm-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    sources = {p.relative_to(ROOT / "lib").as_posix() for p in (ROOT / "lib" / "tfsvm").rglob("*.py")}
    assert sources <= set(names), f"modules missing from the wheel: {sorted(sources - set(names))}"
    with tarfile.open(sdist) as tf:
        assert f"tfsvm-{version}/lib/tfsvm/__init__.py" in tf.getnames()


def test_wheel_installs_and_solves_in_a_fresh_venv(dist, tmp_path):
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(wheel)],
         env=CLEAN_ENV)
    out = _run([str(python), "-c", SMOKE], cwd=tmp_path, env=CLEAN_ENV).stdout.splitlines()
    location, version, W = out[0], out[1], json.loads(out[2])
    assert Path(location).is_relative_to(venv), f"tfsvm imported from {location}, not from the installed wheel"
    assert version == tfsvm.__version__
    torch = _run([str(python), "-c", "import torch; print(torch.__version__)"], env=CLEAN_ENV).stdout.strip()
    assert torch.startswith("2.13.0"), f"constraints.txt did not pin torch: {torch}"
    margin = W[0][0] - W[1][0]  # (x_1 - x_2)^T W z with x_1 = z = e1, x_2 = e2
    assert abs(margin - 1.0) < 1e-6, f"the installed solver's margin is {margin}, Att-SVM's is 1"
    expected = [[0.5, 0.0], [-0.5, 0.0]]
    assert all(abs(a - b) < 1e-6 for row, ref in zip(W, expected) for a, b in zip(row, ref)), W
