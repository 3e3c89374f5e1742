"""Kernel-free slider figures (:func:`tfsvm.plotting.interactive_frames`): light pages.

In the book build each frame is a separate PNG file fetched only when the reader moves to it, so
the page carries the first frame's URL and a list of URLs, not the images; in a live notebook the
frames are inlined. The browser side (the slider swaps the image) is tested on the built site in
``tests/site/test_site.py``.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from tfsvm import plotting  # noqa: E402
from tfsvm.errors import OptionError  # noqa: E402

N_FRAMES = 6


def sliding_line():
    """A figure and a frame drawer whose frames all differ."""
    fig, ax = plotting.new_figure(width=3.0, height=2.0)

    def draw(k: int) -> None:
        ax.clear()
        ax.plot([0, 1], [0, k])
        ax.set_ylim(0, N_FRAMES)
    return fig, draw


def frame_list(markup: str) -> list[str]:
    return json.loads(re.search(r"frames = (\[.*?\])", markup).group(1))


def test_build_writes_frames_as_files_and_the_page_refers_to_them(tmp_path, monkeypatch):
    site, chapter = tmp_path / "site", tmp_path / "site" / "book"
    chapter.mkdir(parents=True)
    frames_dir = tmp_path / "extra" / plotting.FRAMES_FOLDER
    monkeypatch.setenv(plotting.FRAMES_DIR_ENV, str(frames_dir))
    monkeypatch.setenv(plotting.SITE_ROOT_ENV, str(site))
    monkeypatch.chdir(chapter)  # the build runs each chapter's kernel in the chapter's folder
    fig, draw = sliding_line()
    markup = plotting.interactive_frames(fig, draw, N_FRAMES, alt="a line that rises").data
    urls = frame_list(markup)
    assert len(urls) == N_FRAMES and len(set(urls)) == N_FRAMES
    for url in urls:
        assert url.startswith(f"../{plotting.FRAMES_FOLDER}/") and url.endswith(".png")
        png = (frames_dir / Path(url).name).read_bytes()
        assert png.startswith(b"\x89PNG")
    assert "base64" not in markup
    assert len(markup) < 5_000, f"the page should carry URLs, not images: {len(markup)} characters"
    assert f'<img src="{urls[0]}" alt="a line that rises"' in markup
    assert f'max="{N_FRAMES - 1}"' in markup


def test_live_notebook_inlines_the_frames(monkeypatch):
    monkeypatch.delenv(plotting.FRAMES_DIR_ENV, raising=False)
    fig, draw = sliding_line()
    markup = plotting.interactive_frames(fig, draw, N_FRAMES, alt='say "hi" <here>').data
    urls = frame_list(markup)
    assert len(set(urls)) == N_FRAMES
    assert all(base64.b64decode(u.split(",", 1)[1]).startswith(b"\x89PNG") for u in urls)
    assert 'alt="say &quot;hi&quot; &lt;here&gt;"' in markup  # alt text is escaped, never breaks the tag
    assert "http" not in markup  # nothing is fetched from outside


def test_bad_frame_count_is_refused():
    fig, draw = sliding_line()
    with pytest.raises(OptionError, match="n_frames"):
        plotting.interactive_frames(fig, draw, 0, alt="nothing")
