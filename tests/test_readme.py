"""The README's quick start is exactly two commands, and its links lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def quick_start() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the quick start has a sh block"
    return block[1].strip().splitlines()


def test_quick_start_is_make_demo_and_make_test():
    assert quick_start() == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"(?m)^demo:", makefile)
    assert re.search(r"(?m)^test:", makefile)
    # CI runs the same test command as a newcomer.
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_relative_links_and_paths_exist():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    assert targets
    for target in targets:
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target
    # No image may point at a file that is not there yet.
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (ROOT / image).exists(), image
