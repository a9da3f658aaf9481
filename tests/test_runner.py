"""facelib.course.runner: HTML pages load MathJax from the installed copy, never from the network."""

from __future__ import annotations

import nbformat

from facelib.course import runner


def test_html_loads_mathjax_from_the_local_link(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$$ J(G) = \\alpha J_{content} $$")])
    url = runner.link_mathjax(tmp_path)
    html = runner.to_html(nb, url)
    assert (tmp_path / url.split("?")[0]).is_file()                 # the link reaches MathJax.js
    assert (tmp_path / "mathjax" / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert f'<script src="{url}">' in html and "STIX-Web" in html
    assert "ajax/libs/mathjax" not in html                          # nbconvert's default: MathJax from a CDN
    assert runner.link_mathjax(tmp_path) == url                     # a second run keeps the link


def test_notebooks_are_the_numbered_lessons_in_teaching_order(tmp_path):
    for name in ("10_last.ipynb", "02_second.ipynb", "00_first.ipynb", "scratch.ipynb", "1_short.ipynb",
                 "03_notes.md"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in runner.notebooks(tmp_path)] == ["00_first.ipynb", "02_second.ipynb", "10_last.ipynb"]
    numbers = [int(p.name[:2]) for p in runner.notebooks()]          # the course's own: 00, 01, ... without gaps
    assert numbers == list(range(len(numbers))) and len(numbers) >= 9


def test_tensorflow_native_log_lines_are_removed_and_other_stderr_kept():
    logs = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            "I0000 00:00:1796131504.970771   19607 port.cc:153] oneDNN custom operations are on.\n"
            "E0000 00:00:1796131862.863118   23382 node_def_util.cc:682] NodeDef mentions attribute x\n")
    cell = nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text=logs),
        nbformat.v4.new_output("stream", name="stderr", text=logs + "UserWarning: a real warning\n"),
        nbformat.v4.new_output("stream", name="stdout", text="I0000 printed on purpose by the lesson\n")])
    nb = nbformat.v4.new_notebook(cells=[cell])
    assert runner.strip_native_logs(nb) == 6
    assert [o.text for o in nb.cells[0].outputs] == ["UserWarning: a real warning\n",
                                                     "I0000 printed on purpose by the lesson\n"]


def test_run_prints_one_line_per_notebook_and_keeps_the_kernel_quiet(tmp_path, capfd):
    source = ("import os, sys\n"
              "os.write(2, b'I0000 00:00:1796131504.970771   19607 port.cc:153] oneDNN custom operations are on.\\n')\n"
              "print('$x^2$ printed')")
    path = tmp_path / "00_tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$$ x^2 $$"),
                                                   nbformat.v4.new_code_cell(source)]), path)
    dest = tmp_path / "build"
    assert runner.run_notebooks([path], dest=dest) == 0
    captured = capfd.readouterr()
    lines = captured.out.splitlines() + captured.err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("[1/1] 00_tiny.ipynb: ") and lines[1].startswith("1 of 1 ")
    executed = nbformat.read(dest / "00_tiny.ipynb", as_version=4)
    assert [o.text for o in executed.cells[1].outputs] == ["$x^2$ printed\n"]      # the C++ log line is gone
    assert "mathjax/MathJax.js" in (dest / "00_tiny.html").read_text()
    assert (dest / "logs" / "00_tiny.log").is_file()


def test_a_failing_notebook_is_reported_in_one_line(tmp_path, capfd):
    path = tmp_path / "01_broken.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('no such face')")]),
                   path)
    assert runner.run_notebooks([path], dest=tmp_path / "build") == 1
    out = capfd.readouterr().out.splitlines()
    assert out[0].startswith("[1/1] 01_broken.ipynb: FAILED") and "ValueError: no such face" in out[0]
    assert "\x1b[" not in out[0]


def test_a_dead_kernel_or_a_timeout_fails_one_notebook_and_the_run_goes_on(tmp_path, capfd):
    cells = {"01_dies.ipynb": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
             "02_hangs.ipynb": "import time\ntime.sleep(60)",
             "03_fine.ipynb": "print('still ran')"}
    paths = []
    for name, source in cells.items():
        paths.append(tmp_path / name)
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), paths[-1])
    assert runner.run_notebooks(paths, dest=tmp_path / "build", timeout=5) == 2
    out = capfd.readouterr().out.splitlines()
    assert out[0].startswith("[1/3] 01_dies.ipynb: FAILED") and "DeadKernelError" in out[0]
    assert out[1].startswith("[2/3] 02_hangs.ipynb: FAILED") and "timed out" in out[1]
    assert out[2].startswith("[3/3] 03_fine.ipynb: ") and out[3].startswith("1 of 3 notebooks ran")
