"""The book's Sphinx extension (tools/tfsvm_book.py), called with a stand-in Sphinx app.

When the library (or the scale) changed, everything the old run produced must go: the execution
cache, the experiment records, the slider frames, and Sphinx's environment, so that every page is
read and executed again (a page whose source did not change would otherwise keep its old outputs,
pointing at frames that were just deleted).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from docutils import nodes

from conftest import ROOT
from tfsvm import plotting

spec = importlib.util.spec_from_file_location("tfsvm_book", ROOT / "tools" / "tfsvm_book.py")
tfsvm_book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tfsvm_book)


def fake_app(build: Path) -> SimpleNamespace:
    config = SimpleNamespace(nb_execution_cache_path="", html_extra_path=[], mathjax_path="", html_theme_options={})
    return SimpleNamespace(outdir=str(build / "html"), srcdir=str(build.parent), doctreedir=str(build / ".doctrees"),
                           config=config)


@pytest.fixture
def build(tmp_path, monkeypatch):
    for name in ("TFSVM_RECORD_DIR", plotting.FRAMES_DIR_ENV, plotting.SITE_ROOT_ENV):
        monkeypatch.setenv(name, "")  # restored after the test; _prepare sets them
    root = tmp_path / "_build"
    (root / "html").mkdir(parents=True)
    return root


def test_a_stale_build_is_wiped_and_reread(build):
    app = fake_app(build)
    tfsvm_book._prepare(app, app.config)
    frames = build / "site-extra" / plotting.FRAMES_FOLDER
    assert Path(os.environ[plotting.FRAMES_DIR_ENV]) == frames.resolve() and frames.is_dir()
    assert str((build / "site-extra").resolve()) in app.config.html_extra_path
    (frames / "old.png").write_bytes(b"png")
    env_pickle = build / ".doctrees" / "environment.pickle"
    env_pickle.parent.mkdir()
    env_pickle.write_bytes(b"env")

    tfsvm_book._prepare(app, app.config)  # same library: nothing is wiped
    assert (frames / "old.png").exists() and env_pickle.exists()

    (build / ".jupyter_cache" / tfsvm_book.STAMP).write_text("an older library\n")
    tfsvm_book._prepare(app, app.config)
    assert not (frames / "old.png").exists() and frames.is_dir()
    assert not env_pickle.exists()


def test_captions_become_alt_text_of_images_named_by_their_file():
    figure = nodes.figure("", nodes.image(uri="_images/abc.png", alt="_images/abc.png"),
                          nodes.caption("", "Left: the softmax   of Ra.\nRight: its mass."))
    described = nodes.figure("", nodes.image(uri="_images/def.png", alt="a described image"), nodes.caption("", "x"))
    doctree = nodes.section("", figure, described)
    tfsvm_book._alt_from_captions(None, doctree, "page")
    assert figure[0]["alt"] == "Left: the softmax of Ra. Right: its mass."
    assert described[0]["alt"] == "a described image"
    long = "word " * 200
    assert len(tfsvm_book.caption_alt(long)) <= tfsvm_book.ALT_CHARS + 4
