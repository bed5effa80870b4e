"""Every fenced Python block of README.md and docs/*.md runs, page by page, as a reader would paste it.

A page's blocks run in order in one namespace (a later block may use an earlier one's names) in
an empty directory. A block right after a `<!-- fragment ... -->` line needs the reader's own
model or data: it is compiled, not run. TensorFlow only (the SavedModel and TFLite exports the
pages show need it).
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?P<fragment><!-- fragment[^>]*-->\n)?```python\n(?P<code>.*?)^```$", re.S | re.M)


def blocks(page):
    """[(code, is_fragment)] of a page's ```python blocks."""
    return [(m["code"], m["fragment"] is not None) for m in BLOCK.finditer(page.read_text(encoding="utf-8"))]


PAGES_WITH_CODE = [page for page in PAGES if blocks(page)]


def test_the_pages_have_code_to_run():
    # The pattern finds the blocks: the README's two, and runnable blocks on most pages.
    assert len(blocks(ROOT / "README.md")) == 2
    assert sum(not fragment for page in PAGES for _, fragment in blocks(page)) >= 10


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.name)
def test_every_python_block_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"snippets_of_{page.stem}"}
    for index, (code, fragment) in enumerate(blocks(page)):
        compiled = compile(code, f"{page.name}, python block {index + 1}", "exec")
        if not fragment:
            exec(compiled, namespace)  # noqa: S102 - the documentation's own code
