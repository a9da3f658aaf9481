"""facelib.runner: HTML pages load MathJax from the installed copy, never from the network."""

from __future__ import annotations

import nbformat

from facelib import runner


def test_html_loads_mathjax_from_the_local_link(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$$ J(G) = \\alpha J_{content} $$")])
    url = runner.link_mathjax(tmp_path)
    html = runner.to_html(nb, url)
    assert (tmp_path / url.split("?")[0]).is_file()                 # the link reaches MathJax.js
    assert (tmp_path / "mathjax" / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert f'<script src="{url}">' in html and "STIX-Web" in html
    assert "ajax/libs/mathjax" not in html                          # nbconvert's default: MathJax from a CDN
    assert runner.link_mathjax(tmp_path) == url                     # a second run keeps the link


def test_notebooks_are_in_teaching_order():
    names = [p.name for p in runner.notebooks()]
    assert names == sorted(names) and names[0].startswith("00_")
