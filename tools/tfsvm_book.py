"""Sphinx extension for this book (listed under ``sphinx.local_extensions`` in ``_config.yml``).

1. Never execute from a stale cache. Jupyter Book's execution cache is keyed on
   the notebooks' code cells only, so a change in ``lib/tfsvm`` would not re-run
   the chapters. We store ``tfsvm.source_hash()`` next to the cache and wipe the
   cache (and the experiment records) when the library's sources or the
   experiments' scale (``TFSVM_SCALE``) change, and make Sphinx re-read (so
   re-execute) every document then.
2. Serve MathJax from the site itself when ``make book`` has installed it into
   ``_mathjax/mathjax`` (copied to the site's root as ``mathjax/``), so the site and
   its browser tests work offline; otherwise Sphinx's default CDN copy is used.
   (Not under ``_static``: Jupyter Book would load every .js file found there.)
3. Drop duplicated inline scripts. sphinx-thebe registers its inline
   configuration script in a way that Sphinx 7 emits twice, which makes every
   page throw "Identifier 'THEBE_JS_URL' has already been declared".
4. Record every experiment. ``TFSVM_RECORD_DIR`` is set for the kernels that run
   the chapters, so each ``run_experiment`` call saves its record; the
   "Reproduction status" page builds ``summary.json`` from them.
5. Serve the slider figures' frames as files. ``TFSVM_FRAMES_DIR`` (and the book's root,
   ``TFSVM_SITE_ROOT``) are set for the kernels, so ``tfsvm.plotting.interactive_frames`` writes
   each frame to ``_build/site-extra/figure-frames/`` instead of inlining it in the page; that
   folder is copied to the site's root. It lives and dies with the execution cache, as the
   records do, since a cached notebook's output refers to its frames.
6. Alt text from captions. myst-nb gives a glued figure's image its file path as alt text; a
   screen reader would read out a hash. Every image of a captioned figure whose alt text is missing
   or is its own path gets the caption's text instead.
7. Say which edition this is: the footer of every page (and so the PDF's last
   page; ``tools/print_pdf.py`` repeats it in every page header) shows
   ``tfsvm.__version__``, the build date and the experiments' scale.
8. Let the single-page build (``make pdf``) render every node. sphinx-exercise
   registers its node visitors for "singlehtml" by name, and Sphinx then ignores
   every other extension's "html" visitors for that builder (sphinx-proof's
   ``unenumerable_node`` fails); the missing ones are copied over.
"""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path

from sphinx.application import ENV_PICKLE_FILENAME

STAMP = "tfsvm-source-hash"
LOCAL_MATHJAX = Path("_mathjax/mathjax/tex-mml-chtml.js")


def _cache_dir(app) -> Path:
    configured = getattr(app.config, "nb_execution_cache_path", "")
    return Path(configured) if configured else Path(app.outdir).parent / ".jupyter_cache"


def edition() -> str:
    """The book's version, build date (UTC, or ``SOURCE_DATE_EPOCH`` for reproducible builds) and scale."""
    import tfsvm

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = datetime.datetime.fromtimestamp(int(epoch), datetime.UTC) if epoch else datetime.datetime.now(datetime.UTC)
    scale = os.environ.get("TFSVM_SCALE", "book")
    return f"Version {tfsvm.__version__}, built {now.date().isoformat()} ({scale}-scale experiments)"


def _show_edition(config) -> None:
    import tfsvm

    config.version = config.release = tfsvm.__version__
    options = dict(config.html_theme_options)
    options["extra_footer"] = f'{options.get("extra_footer", "")}<p class="tfsvm-edition">{edition()}.</p>'
    config.html_theme_options = options


def _stamp() -> str:
    """What the executed notebooks depend on besides their code: the library and the scale."""
    import tfsvm

    return f"{tfsvm.source_hash()} scale={os.environ.get('TFSVM_SCALE', 'book')}"


def _reread_on_new_stamp(app, env, added, changed, removed) -> list[str]:
    """Every document, when the stamp changed since this builder's environment was saved.

    Wiping the execution cache alone re-executes nothing: Sphinx re-reads (and so re-executes)
    only documents whose source changed, and would keep the old outputs, e.g. book-scale numbers
    in a ``make site`` after ``make book``. Each builder's environment carries its own stamp.
    """
    current = _stamp()
    if getattr(env, "tfsvm_stamp", None) == current:
        return []
    env.tfsvm_stamp = current
    return sorted(env.found_docs - added)


def _prepare(app, config) -> None:
    from tfsvm import plotting

    cache = _cache_dir(app)
    records = Path(app.outdir).parent / "reproduce"
    extra = Path(app.outdir).parent / "site-extra"
    # the cache is also invalid when the experiments' scale changes (TFSVM_SCALE=paper make book)
    current = _stamp()
    stamp = cache / STAMP
    if cache.exists() and (not stamp.exists() or stamp.read_text().strip() != current):
        shutil.rmtree(cache)
        shutil.rmtree(records, ignore_errors=True)
        shutil.rmtree(extra, ignore_errors=True)
        # and re-read every page: Sphinx would otherwise keep the pages whose source did not change,
        # with outputs (and frames, records) of the old library, and execute nothing for them
        (Path(app.doctreedir) / ENV_PICKLE_FILENAME).unlink(missing_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    os.environ["TFSVM_RECORD_DIR"] = str(records.resolve())
    frames = extra / plotting.FRAMES_FOLDER
    frames.mkdir(parents=True, exist_ok=True)
    os.environ[plotting.FRAMES_DIR_ENV] = str(frames.resolve())
    os.environ[plotting.SITE_ROOT_ENV] = str(Path(app.srcdir).resolve())
    config.html_extra_path = [*config.html_extra_path, str(extra.resolve())]
    if (Path(app.srcdir) / LOCAL_MATHJAX).exists():
        config.html_extra_path = [*config.html_extra_path, LOCAL_MATHJAX.parts[0]]
        config.mathjax_path = "../" + Path(*LOCAL_MATHJAX.parts[1:]).as_posix()  # relative to _static/
    _show_edition(config)


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    # the duplicates differ only in filename None vs "" (an inline script)
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (str(getattr(script, "filename", script) or ""), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique  # in place: later handlers (MathJax) append to this very list


ALT_CHARS = 400  # a screen reader reads the whole alt text; the caption below follows anyway


def caption_alt(caption: str) -> str:
    """The caption as alt text: one line, cut at a word boundary after ``ALT_CHARS`` characters."""
    text = " ".join(caption.split())
    return text if len(text) <= ALT_CHARS else text[:ALT_CHARS].rsplit(" ", 1)[0] + " ..."


def _alt_from_captions(app, doctree, docname) -> None:
    from docutils import nodes

    for figure in doctree.findall(nodes.figure):
        captions = list(figure.findall(nodes.caption))
        if not captions:
            continue
        for image in figure.findall(nodes.image):
            if not image.get("alt") or image["alt"] == image.get("uri"):
                image["alt"] = caption_alt(captions[0].astext())


def _inherit_html_visitors(app) -> None:
    handlers = app.registry.translation_handlers
    if app.builder.format == "html" and app.builder.name != "html" and app.builder.name in handlers:
        for node, visitors in handlers.get("html", {}).items():
            handlers[app.builder.name].setdefault(node, visitors)


def setup(app):
    app.connect("doctree-resolved", _alt_from_captions)
    app.connect("builder-inited", _inherit_html_visitors)
    app.connect("env-get-outdated", _reread_on_new_stamp)
    app.connect("config-inited", _prepare, priority=100)
    # early: a later handler may return a template name, which ends the event (emit_firstresult)
    app.connect("html-page-context", _dedupe_scripts, priority=1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
