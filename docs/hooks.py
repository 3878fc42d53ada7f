"""MkDocs build hook (mkdocs.yml's ``hooks:``): brings the generated handouts into the site.

The handout folders (hw0/ .. hw5_models/) are generated from solutions/ and hold what students
get. Their README.md and notebook become pages at the same paths as in the repository
(``hw1_autograd/README.md`` -> ``hw1_autograd/``, ``hw1_autograd/hw1.ipynb`` -> its own page),
read in place, never copied into docs/. The instructor guide is the root README's sections for
instructors, taken from README.md at build time so that it is written once.

A file that should be there and is not (a handout not generated, a README section renamed)
stops the build, naming it: a site silently missing a homework would pass every link check.
"""
from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import get_toc

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


# Before mkdocs-jupyter's own on_files (priority 0), which turns each notebook in `files` into a
# page: the handouts' notebooks must already be there.
@event_priority(50)
def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = Path(config.config_file_path).resolve().parent
    for folder, notebook in HANDOUTS.items():
        for name in ("README.md", notebook):
            path = root / folder / name
            if not path.is_file():
                raise PluginError(f"docs: {path} is missing; run `make handouts` first")
            # A File whose source folder is the repository root (not docs/), rather than
            # File.generated: mkdocs-jupyter's NotebookFile wrapper finds a generated file's
            # source path None.
            files.append(File(f"{folder}/{name}", src_dir=str(root), dest_dir=config.site_dir,
                              use_directory_urls=config.use_directory_urls))
    try:
        guide = readme_sections((root / "README.md").read_text(encoding="utf-8"),
                                INSTRUCTOR_SECTIONS)
    except (OSError, ValueError) as e:
        raise PluginError(f"docs: the instructor guide: {e}") from e
    files.append(File.generated(config, "instructors.md", content=INSTRUCTOR_INTRO + "\n" + guide))
    return files


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
