"""MkDocs build hook (mkdocs.yml's ``hooks:``): brings the generated handouts into the site.

The handout folders (hw0/ .. hw5_models/) are generated from solutions/ and hold what students
get. Their README.md and notebook become pages at the same paths as in the repository
(``hw1_autograd/README.md`` -> ``hw1_autograd/``, ``hw1_autograd/hw1.ipynb`` -> its own page),
read in place, never copied into docs/. The instructor guide is the root README's sections for
instructors, taken from README.md at build time so that it is written once.

The chapters are shown executed, against the reference, keeping outputs only where they reveal
no answer: a code cell tagged ``figure`` (a worked example's figure, and the helpers and imports
figures need) is run, with the other ``figure`` cells only, in order, in a fresh kernel that imports
needle from solutions/python, in the handout folder; every other cell is shown without output
(``execute_figures``). The executed copies are written to a temporary folder, never to the
handouts, and kept in a cache (``executed_chapter``): a chapter is run again only when it, the
reference or this file has changed.

Two editions: the course site (``make docs``, into site/) and the students' (``make docs-student``,
``DOCS_EDITION=student``, into site-student/), which is the one to publish to students: the same
pages without the instructor guide, and without the parts of docs/ pages between
``<!-- course edition -->`` and ``<!-- end course edition -->``.

A file that should be there and is not (a handout not generated, a README section renamed)
stops the build, naming it: a site silently missing a homework would pass every link check. So
does a figure cell that fails, naming its notebook and cell.
"""
from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import get_toc
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

# Each handout folder and its notebook, in course order (solutions/course.toml's homeworks).
HANDOUTS = {
    "hw0": "hw0.ipynb",
    "hw1_autograd": "hw1.ipynb",
    "hw2_nn": "hw2.ipynb",
    "hw3_ndarray_backend": "hw3.ipynb",
    "hw4_gpu_cuda": "hw4.ipynb",
    "hw5_models": "hw5.ipynb",
}

# The root README's sections that make up the instructor guide (each runs to the next heading of
# its level or higher).
INSTRUCTOR_SECTIONS = ("For instructors", "Grading", "On a JupyterHub with nbgrader")


def _headings(lines: list[str]) -> dict[int, int]:
    """Line index -> level of each Markdown heading, skipping fenced code blocks (whose ``#``
    lines are comments)."""
    out: dict[int, int] = {}
    fence = ""
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        marker = re.match(r"(`{3,}|~{3,})", stripped)
        if marker and (not fence or marker.group(1).startswith(fence)):
            fence = "" if fence else marker.group(1)
        elif not fence and (m := re.match(r"(#{1,6}) ", line)):
            out[i] = len(m.group(1))
    return out


def readme_sections(readme: str, titles: tuple[str, ...]) -> str:
    """The sections of ``readme`` headed by ``titles`` (any level), each up to the next heading
    of the same or a higher level, in the order given, each made a level-2 section (its
    subsections shifted to match). ValueError names a title not found."""
    lines = readme.splitlines()
    headings = _headings(lines)
    out: list[str] = []
    for title in titles:
        start = next((i for i in headings if lines[i].lstrip("#").strip() == title), None)
        if start is None:
            raise ValueError(f"README.md has no section headed {title!r}")
        level = headings[start]
        end = next((i for i in sorted(headings) if i > start and headings[i] <= level), len(lines))
        for i in range(start, end):
            shifted = i in headings
            out.append("#" * (headings[i] - level + 2) + lines[i][headings[i]:] if shifted
                       else lines[i])
        out.append("")
    return "\n".join(out)


INSTRUCTOR_INTRO = """\
# Instructor guide

How the course is generated from one source, how submissions are graded, and how to run it on
a JupyterHub with nbgrader. These sections are the repository README's, taken from it when the
site is built.
"""


FIGURE_TAG = "figure"

# Seconds a figure cell may run: figures are small worked examples, drawn in a few seconds.
FIGURE_TIMEOUT = 120


def execute_figures(notebook: nbformat.NotebookNode, folder: Path, reference: Path) -> int:
    """Run ``notebook``'s cells tagged ``figure``, in place, and clear every other cell's outputs.

    Args:
        notebook: an nbformat v4 notebook (a handout's chapter); changed in place.
        folder: the kernel's working directory (the handout folder, so that a figure reading the
            homework's data sample finds it).
        reference: the folder from which the kernel imports needle (solutions/python).

    The figure cells run in order in one fresh kernel, and no other cell runs: a figure cell may
    rely on earlier figure cells only. A cell not tagged may reveal an answer (a test run, a value
    the student computes), so it is shown without output, whatever the notebook held.

    Returns:
        The number of figure cells run.

    Raises:
        PluginError: a figure cell raised or ran over ``FIGURE_TIMEOUT`` seconds; the message names
            the cell (its number, counting from 1) and the error.
    """
    figures = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if FIGURE_TAG in cell.metadata.get("tags", []):
            figures.append((number, cell))
    if not figures:
        return 0
    # The kernel spec runs `python`: this interpreter's, whose environment has ipykernel.
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
           "PYTHONPATH": str(reference), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    # startup_timeout: a kernel starts in seconds, but a busy 2-core machine can take a minute.
    client = NotebookClient(notebook, timeout=FIGURE_TIMEOUT, startup_timeout=180,
                            kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    # The kernel's own stderr is only its start-up chatter (a cell's errors come back as outputs).
    with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
        for number, cell in figures:
            try:
                client.execute_cell(cell, number - 1)
            except CellExecutionError as e:
                raise PluginError(f"docs: {folder.name}: figure cell {number} failed: "
                                  f"{e.ename}: {e.evalue}") from e
            except TimeoutError as e:
                raise PluginError(f"docs: {folder.name}: figure cell {number} ran over "
                                  f"{FIGURE_TIMEOUT} s") from e
    return len(figures)


EDITIONS = ("course", "student")
_COURSE_ONLY = re.compile(r"<!-- course edition -->.*?<!-- end course edition -->\n?", re.DOTALL)


def edition() -> str:
    """The edition being built: ``DOCS_EDITION`` (default ``course``).

    Raises:
        PluginError: ``DOCS_EDITION`` is set to something else than ``course`` or ``student``.
    """
    name = os.environ.get("DOCS_EDITION") or "course"
    if name not in EDITIONS:
        raise PluginError(f"docs: DOCS_EDITION={name!r}; expected one of {', '.join(EDITIONS)}")
    return name


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """The students' edition: the navigation without the instructor guide."""
    if edition() == "student":
        config.nav = [entry for entry in config.nav or []
                      if not (isinstance(entry, dict) and "Instructor guide" in entry)]
    return config


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """A page's course-edition parts (see the module's text): dropped from the students'
    edition; in the course edition, only their two marker lines are."""
    if edition() == "student":
        return _COURSE_ONLY.sub("", markdown)
    return re.sub(r"<!-- (end )?course edition -->\n?", "", markdown)


def chapter_cache() -> Path:
    """The folder of executed chapters kept between builds: ``$XDG_CACHE_HOME/flamethrower/
    chapters`` (``~/.cache/...`` by default), the user's own cache, outside the repository."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flamethrower" / "chapters"


def reference_fingerprint(reference: Path) -> str:
    """SHA-256 of every file of the reference needle under ``reference`` (its sources and built
    extensions, not ``__pycache__``) and of this file: what a chapter's figures depend on."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted((reference / "needle").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(reference).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def executed_chapter(path: Path, reference: Path, fingerprint: str, cache: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` with its figure cells run (``execute_figures``), from ``cache``
    when it holds this notebook run against this ``fingerprint`` of the reference
    (``reference_fingerprint``), else run now and stored there (replacing the notebook's older
    entries).

    Raises:
        PluginError: a figure cell failed (``execute_figures``); nothing is stored then.
    """
    text = path.read_bytes()
    key = hashlib.sha256(fingerprint.encode() + b"\0" + text).hexdigest()[:20]
    stem = f"{path.parent.name}-{path.stem}"
    cached = cache / f"{stem}-{key}.ipynb"
    if cached.is_file():
        return nbformat.read(cached, as_version=4)
    notebook = nbformat.reads(text.decode("utf-8"), as_version=4)
    execute_figures(notebook, path.parent, reference)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for old in cache.glob(f"{stem}-*.ipynb"):
            old.unlink(missing_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        nbformat.write(notebook, partial)
        partial.replace(cached)  # whole or absent, even with two builds at once
    except OSError:
        pass  # a cache that cannot be written (a read-only home) only costs the next build time
    return notebook


# Before mkdocs-jupyter's own on_files (priority 0), which turns each notebook in `files` into a
# page: the handouts' notebooks must already be there.
@event_priority(50)
def on_files(files: Files, config: MkDocsConfig) -> Files:
    global _executed
    root = Path(config.config_file_path).resolve().parent
    reference = root / "solutions" / "python"
    if not (reference / "needle").is_dir():
        raise PluginError(f"docs: {reference / 'needle'} is missing: the chapters' figures are "
                          "drawn with the reference")
    if _executed is not None:
        shutil.rmtree(_executed, ignore_errors=True)
    _executed = Path(tempfile.mkdtemp(prefix="flamethrower-chapters-"))
    fingerprint = reference_fingerprint(reference)
    for folder, notebook in HANDOUTS.items():
        for name in ("README.md", notebook):
            path = root / folder / name
            if not path.is_file():
                raise PluginError(f"docs: {path} is missing; run `make handouts` first")
        chapter = executed_chapter(root / folder / notebook, reference, fingerprint, chapter_cache())
        (_executed / folder).mkdir()
        nbformat.write(chapter, _executed / folder / notebook)
        # Files whose source folder is not docs/, rather than File.generated: mkdocs-jupyter's
        # NotebookFile wrapper finds a generated file's source path None.
        for name, src_dir in (("README.md", root), (notebook, _executed)):
            files.append(File(f"{folder}/{name}", src_dir=str(src_dir), dest_dir=config.site_dir,
                              use_directory_urls=config.use_directory_urls))
    if edition() == "student":
        return files
    try:
        guide = readme_sections((root / "README.md").read_text(encoding="utf-8"),
                                INSTRUCTOR_SECTIONS)
    except (OSError, ValueError) as e:
        raise PluginError(f"docs: the instructor guide: {e}") from e
    files.append(File.generated(config, "instructors.md", content=INSTRUCTOR_INTRO + "\n" + guide))
    return files


# The folder of this build's executed chapters (on_files), removed after the build.
_executed: Path | None = None


def on_post_build(config: MkDocsConfig) -> None:
    """Removes the executed chapters' folder (also after a failed build: on_build_error)."""
    global _executed
    if _executed is not None:
        shutil.rmtree(_executed, ignore_errors=True)
        _executed = None


def on_build_error(error: Exception) -> None:
    on_post_build(None)  # type: ignore[arg-type]  # the config is not used


_HEADING = re.compile(r'<h([1-6]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.DOTALL)


def toc_tokens(page_html: str) -> list[dict[str, Any]]:
    """The table of contents of a rendered page, from its headings' ids: nested tokens as
    ``mkdocs.structure.toc.get_toc`` takes them."""
    root: list[dict[str, Any]] = []
    stack: list[dict[str, Any]] = []
    for level, anchor, inner in _HEADING.findall(page_html):
        name = html.unescape(re.sub(r"<[^>]+>", "", inner)).replace("\u00b6", "").strip()
        token: dict[str, Any] = {"level": int(level), "id": anchor, "name": name, "children": []}
        while stack and stack[-1]["level"] >= token["level"]:
            stack.pop()
        (stack[-1]["children"] if stack else root).append(token)
        stack.append(token)
    return root


_HREF = re.compile(r'href="([^"#:]+\.(?:md|ipynb))(#[^"]*)?"')


def notebook_links(page_html: str, page: Page, files: Files, root: Path) -> str:
    """A notebook's links to the repository's Markdown files and notebooks, made site links.

    A chapter links as the repository lays files out, relative to its notebook, so that the link
    works on GitHub and in JupyterLab: ``../docs/notation.md#adjoints`` from
    ``hw1_autograd/hw1.ipynb``. mkdocs-jupyter leaves such links as they are, and on the site
    they would lead nowhere; here each becomes the URL of the page built from that file. A link
    to a file the site does not have stays as written, and test_docs reports it broken.
    """
    folder = (root / page.file.src_uri).parent

    def site_link(match: re.Match[str]) -> str:
        target = Path(os.path.normpath(folder / match.group(1)))  # not resolve(): a symlink stays in root
        if not target.is_relative_to(root):
            return match.group(0)
        path = target.relative_to(root).as_posix()
        uri = path.removeprefix("docs/") if path.startswith("docs/") else path
        file = files.get_file_from_path(uri)
        if file is None:
            return match.group(0)
        return f'href="{file.url_relative_to(page.file)}{match.group(2) or ""}"'

    return _HREF.sub(site_link, page_html)


def on_page_content(html_: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """For a notebook's page: its links to the repository's files made site links
    (``notebook_links``), and its table of contents from the ids its headings have in the HTML.

    mkdocs-jupyter takes the contents from the notebook converted to Markdown, whose anchors
    differ from those of the HTML it renders wherever a heading holds code ("Question 1: `add`"
    is ``#question-1`` there, ``#question-1-add`` in the page): every such entry led nowhere.
    """
    if page.file.src_uri.endswith(".ipynb"):
        root = Path(config.config_file_path).resolve().parent
        html_ = notebook_links(html_, page, files, root)
        page.toc = get_toc(toc_tokens(html_))  # type: ignore[arg-type]
    return html_
