"""The documentation site needs no network to read: formulas are rendered by KaTeX when the
site is built (docs/conf.py), and the pages load KaTeX's stylesheet and fonts from the
vendored docs/_static/katex/. Building the whole site takes minutes (it runs the lecture), so
this checks the configuration and the vendored files; the pages themselves were checked in
headless Chromium with the network off (see docs/_static/katex/README.md)."""

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
KATEX = DOCS / "_static" / "katex"


def test_formulas_are_prerendered_with_katex_not_loaded_from_a_cdn():
    conf = (DOCS / "conf.py").read_text()
    assert '"sphinxcontrib.katex"' in conf and "mathjax" not in conf.split("extensions")[1][:300]
    assert "katex_prerender = True" in conf
    assert 'katex_css_path = "katex/katex.min.css"' in conf
    assert "http" not in re.findall(r"katex_\w+ = .*", conf)[0]


def test_the_vendored_stylesheet_finds_every_font_it_needs_and_keeps_its_licence():
    css = (KATEX / "katex.min.css").read_text()
    assert "http" not in css
    fonts = set(re.findall(r"url\((fonts/[\w-]+\.woff2)\)", css))
    assert len(fonts) >= 20
    missing = [f for f in fonts if not (KATEX / f).is_file()]
    assert missing == []
    assert "MIT License" in (KATEX / "LICENSE").read_text()
