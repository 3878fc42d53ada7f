"""The course site (mkdocs.yml, docs/; `make docs`): it builds with ``mkdocs build --strict``,
offline, and every internal link and anchor of the built pages resolves.

MkDocs' own validation (mkdocs.yml's ``validation:``, errors under --strict) checks the links
written in Markdown pages. The crawl of the built HTML below also covers what MkDocs does not
see: the navigation, the notebooks' pages (rendered by mkdocs-jupyter) and the API reference
(mkdocstrings). A copy of the docs with a link planted to a missing page must fail the build, so
that the check is known to be able to fail. The API reference, built from the student handout,
must hold no line of a solution region (built from solutions/ with its source shown, it holds
dozens: checked by hand when this test was written).

The chapters (the homework notebooks) are shown executed: only their cells tagged ``figure`` run,
against the reference, and every other cell is shown without output (docs/hooks.py,
``execute_figures``). Every question of every chapter has its idea, maths, worked example with a
figure, and task, and every chapter links the notation page. The students' edition
(``make docs-student``) is the same site without the instructor guide.
"""
from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDOUTS = ("hw0", "hw1_autograd", "hw2_nn", "hw3_ndarray_backend", "hw4_gpu_cuda", "hw5_models")


def build(config_dir: Path, site: Path, edition: str = "course") -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of ``config_dir/mkdocs.yml`` into ``site``, of an edition
    (``course`` or ``student``: docs/hooks.py)."""
    # NO_MKDOCS_2_WARNING: Material's banner about MkDocs 2.0, printed on every build.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DOCS_EDITION": edition}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=config_dir, env=env, capture_output=True, text=True, timeout=300, check=False)


class _Links(HTMLParser):
    """The ids of a page, and the URLs its elements point to (href and src)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            elif name in ("href", "src") and value:
                self.urls.append(value)


def broken_links(site: Path) -> list[str]:
    """``page: url`` for each internal link of the built ``site`` to a missing file or anchor."""
    pages: dict[Path, _Links] = {}
    for page in site.rglob("*.html"):
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        pages[page.resolve()] = parser
    broken = []
    for page, parser in sorted(pages.items()):
        for url in parser.urls:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:")):
                continue  # external: not fetched, not checked
            # 404.html's links are absolute (it is served at any depth): from the site's root.
            base = site.resolve() if parts.path.startswith("/") else page.parent
            target = (base / unquote(parts.path).lstrip("/")).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(site.resolve()) or not target.exists():
                broken.append(f"{page.relative_to(site.resolve())}: {url} (no such file)")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in (
                    pages[target].ids if target in pages else set()):
                broken.append(f"{page.relative_to(site.resolve())}: {url} (no such anchor)")
    return broken


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    result = build(ROOT, out)
    assert result.returncode == 0, f"make docs fails:\n{result.stderr[-6000:]}"
    return out


@pytest.fixture(scope="module")
def student_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site-student"
    result = build(ROOT, out, "student")
    assert result.returncode == 0, f"make docs-student fails:\n{result.stderr[-6000:]}"
    return out


def test_docs_student_edition_has_no_instructor_guide(site: Path, student_site: Path) -> None:
    assert (site / "instructors" / "index.html").is_file()
    assert "Building this site" in (site / "index.html").read_text(encoding="utf-8")
    assert not (student_site / "instructors").exists()
    for page in student_site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "instructors/" not in text and "Instructor guide" not in text, page
        assert "course edition -->" not in text and "Building this site" not in text, page
    assert broken_links(student_site) == []
    # The rest is the same site: every chapter, README and API page.
    assert {p.relative_to(site) for p in site.rglob("*.html")} - {
        p.relative_to(student_site) for p in student_site.rglob("*.html")} == {
        Path("instructors/index.html")}


def test_docs_an_unknown_edition_is_refused(tmp_path: Path) -> None:
    result = build(ROOT, tmp_path / "site", "teachers")
    assert result.returncode != 0
    assert "DOCS_EDITION='teachers'; expected one of course, student" in result.stdout + result.stderr


def test_docs_build_strict_and_offline(site: Path) -> None:
    # One page per handout README and notebook, the notation page, the API reference, the guide.
    for page in ("index.html", "notation/index.html", "instructors/index.html",
                 "api/autograd/index.html", *(f"{hw}/index.html" for hw in HANDOUTS)):
        assert (site / page).is_file(), page
    for hw in HANDOUTS:
        notebook = next((ROOT / hw).glob("hw*.ipynb"))
        assert (site / hw / notebook.stem / "index.html").is_file(), notebook
    # Offline: no web fonts (theme.font: false); MathJax is the only script from outside, which
    # the reader's browser loads at view time.
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text, page


def test_docs_internal_links_resolve(site: Path) -> None:
    assert broken_links(site) == []


def solution_lines() -> set[str]:
    """Lines of needle's solution regions (solutions/python/needle) long enough to be telling
    (40+ characters) and found in no handout's copy of the same file: the answer key."""
    lines: set[str] = set()
    needle = ROOT / "solutions" / "python" / "needle"
    for path in needle.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        handout = ROOT / "hw5_models" / "python" / "needle" / path.relative_to(needle)
        given = handout.read_text(encoding="utf-8") if handout.is_file() else ""
        for region in re.findall(r"### BEGIN SOLUTION hw\d+\n(.*?)### END SOLUTION", text, re.DOTALL):
            lines.update(line.strip() for line in region.splitlines()
                         if len(line.strip()) >= 40 and line.strip() not in given)
    return lines


def test_docs_api_reference_shows_no_solution(site: Path) -> None:
    # show_source: false, and the reference is read from the student handout: signatures and
    # docstrings, never a line of a solution region.
    key = solution_lines()
    assert len(key) > 100  # the check has something to find
    for page in (site / "api").rglob("*.html"):
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        assert "Source code in" not in text, page
        leaked = sorted(line for line in key if line in text)
        assert not leaked, f"{page}: {leaked[:5]}"


def test_docs_a_planted_broken_link_fails_the_build(tmp_path: Path) -> None:
    # The docs as they are, with one link to a page that does not exist; and in hw1's notebook a
    # link to the notation as the repository lays it out (which the site must resolve) and one
    # to a file that does not exist (which the crawl must report: MkDocs does not see it).
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "solutions").symlink_to(ROOT / "solutions", target_is_directory=True)
    for hw in HANDOUTS:
        if hw != "hw1_autograd":
            (tmp_path / hw).symlink_to(ROOT / hw, target_is_directory=True)
    (tmp_path / "hw1_autograd").mkdir()
    shutil.copy(ROOT / "hw1_autograd" / "README.md", tmp_path / "hw1_autograd")
    notebook = json.loads((ROOT / "hw1_autograd" / "hw1.ipynb").read_text(encoding="utf-8"))
    notebook["cells"].append({"cell_type": "markdown", "metadata": {}, "source": [
        "See [the adjoints](../docs/notation.md#adjoints) and [a lost page](../docs/lost.md)."]})
    (tmp_path / "hw1_autograd" / "hw1.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + "\nSee [the missing chapter](hw9.md).\n",
                     encoding="utf-8")
    result = build(tmp_path, tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "contains a link 'hw9.md', but the target is not found" in output, output[-3000:]
    # Strict mode stops after writing the pages: the crawl sees both planted links, and the
    # notebook's link to the notation resolves.
    assert broken_links(tmp_path / "site") == ["hw1_autograd/hw1/index.html: ../docs/lost.md (no such file)",
                                               "index.html: hw9.md (no such file)"]
    page = (tmp_path / "site" / "hw1_autograd" / "hw1" / "index.html").read_text(encoding="utf-8")
    assert 'href="../../notation/#adjoints"' in page


def test_docs_the_link_crawl_finds_a_planted_broken_link(site: Path, tmp_path: Path) -> None:
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    page = copy / "notation" / "index.html"
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", '<a href="../api/missing/">x</a><a href="../index.html#no-such-anchor">y</a></body>'),
        encoding="utf-8")
    assert broken_links(copy) == ["notation/index.html: ../api/missing/ (no such file)",
                                  "notation/index.html: ../index.html#no-such-anchor (no such anchor)"]


def hooks() -> ModuleType:
    """docs/hooks.py, loaded from its path as mkdocs loads it."""
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_execute_figures_runs_only_the_figure_cells_and_drops_other_outputs(tmp_path: Path) -> None:
    figure = {"tags": ["figure"]}
    answer = nbformat.v4.new_code_cell('x = 100\nprint("the answer is", x)')
    answer.outputs = [nbformat.v4.new_output("stream", name="stdout", text="the answer is 42\n")]
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("import needle\nx = 2", metadata=figure),
        answer,
        nbformat.v4.new_code_cell("import os\nprint(x * 3, os.getcwd(), needle.__file__)", metadata=figure),
    ])
    (tmp_path / "hw9").mkdir()
    assert hooks().execute_figures(notebook, tmp_path / "hw9", ROOT / "solutions" / "python") == 2
    assert notebook.cells[1].outputs == []
    assert notebook.cells[2].outputs == [] and notebook.cells[2].execution_count is None
    # The untagged cell never ran (x is still 2), in the handout folder, with the reference needle.
    printed = notebook.cells[3].outputs[0]["text"].split()
    assert printed == ["6", str(tmp_path / "hw9"),
                       str(ROOT / "solutions" / "python" / "needle" / "__init__.py")]


def test_execute_figures_a_failing_figure_cell_stops_the_build_naming_it(tmp_path: Path) -> None:
    from mkdocs.exceptions import PluginError
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("y = 1", metadata={"tags": ["figure"]}),
        nbformat.v4.new_code_cell("raise ValueError('planted')", metadata={"tags": ["figure"]})])
    (tmp_path / "hw9").mkdir()
    with pytest.raises(PluginError, match=r"^docs: hw9: figure cell 2 failed: ValueError: planted$"):
        hooks().execute_figures(notebook, tmp_path / "hw9", ROOT / "solutions" / "python")


def test_executed_chapter_is_run_again_only_when_it_or_the_reference_changes(tmp_path: Path) -> None:
    module, reference, cache = hooks(), ROOT / "solutions" / "python", tmp_path / "cache"
    (tmp_path / "hw9").mkdir()
    path = tmp_path / "hw9" / "hw9.ipynb"
    draw = nbformat.v4.new_code_cell("import uuid\nprint(uuid.uuid4())", metadata={"tags": ["figure"]})
    nbformat.write(nbformat.v4.new_notebook(cells=[draw]), path)

    def printed(fingerprint: str) -> str:
        notebook = module.executed_chapter(path, reference, fingerprint, cache)
        return str(notebook.cells[0].outputs[0]["text"])

    first = printed("reference-1")
    assert printed("reference-1") == first  # from the cache: the cell did not run again
    second = printed("reference-2")  # the reference changed: run again, the old entry replaced
    assert second != first and len(list(cache.iterdir())) == 1
    nbformat.write(nbformat.v4.new_notebook(cells=[draw, nbformat.v4.new_markdown_cell("More.")]), path)
    assert printed("reference-2") != second  # the chapter changed: run again
    assert len(module.reference_fingerprint(reference)) == 64


def chapter_sections(notebook: nbformat.NotebookNode) -> dict[str, list[nbformat.NotebookNode]]:
    """The cells of each question's section (``## Question N ...`` up to the next ``## ``)."""
    sections: dict[str, list[nbformat.NotebookNode]] = {}
    current: list[nbformat.NotebookNode] | None = None
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            title = cell.source.splitlines()[0]
            current = sections.setdefault(title, []) if title.startswith("## Question") else None
        if current is not None:
            current.append(cell)
    return sections


PARTS = {"idea": "**The idea", "maths": "**The maths", "worked example": "**A worked example",
         "task": "**The task"}


@pytest.mark.parametrize("hw", HANDOUTS)
def test_every_question_has_idea_maths_figure_and_task(hw: str) -> None:
    notebook = nbformat.read(next((ROOT / hw).glob("hw*.ipynb")), as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "](../docs/notation.md" in text, f"{hw}: the chapter does not link the notation page"
    sections = chapter_sections(notebook)
    assert sections, f"{hw}: no '## Question' sections"
    missing = []
    for title, cells in sections.items():
        prose = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
        missing += [f"{title}: {part}" for part, mark in PARTS.items() if mark not in prose]
        if not any("figure" in cell.metadata.get("tags", []) for cell in cells):
            missing.append(f"{title}: a code cell tagged figure")
    assert missing == [], f"{hw}: sections lacking parts: {missing}"


def test_docs_chapters_show_their_figures_and_nothing_else(site: Path) -> None:
    for hw in HANDOUTS:
        path = next((ROOT / hw).glob("hw*.ipynb"))
        page = site / hw / path.stem / "index.html"
        text = page.read_text(encoding="utf-8")
        images = len(re.findall(r'<img [^>]*src="data:image/png;base64,', text))
        questions = len(chapter_sections(nbformat.read(path, as_version=4)))
        assert images >= questions, f"{page}: {images} figures for {questions} questions"
        # No test run's output: the cells that run tests are not figures, so never run.
        assert not re.search(r"\b\d+ (passed|failed)\b", text), page
        assert "Traceback (most recent call last)" not in text, page
