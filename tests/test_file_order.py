"""``--file-order``: the test files reversed or shuffled, each file's tests kept in order."""

from __future__ import annotations

import re

pytest_plugins = ["pytester"]

FILES = [f"test_{name}" for name in "abcdef"]


def order(pytester, *options: str) -> tuple[list[str], str]:
    """The files in run order, each once, and the run's header."""
    for name in FILES:
        pytester.makepyfile(**{name: "def test_one(): pass\ndef test_two(): pass\n"})
    # Without hypothesis's plugin, which takes most of a second to load at each run.
    plugins = ("-p", "tests.file_order", "-p", "no:hypothesispytest")
    result = pytester.runpytest(*plugins, "--collect-only", *options)
    ran = re.findall(r"<Module (test_\w+)\.py>", result.stdout.str())
    # Each file's two tests stay together and in their order.
    functions = re.findall(r"<Function (test_\w+)>", result.stdout.str())
    assert functions == ["test_one", "test_two"] * len(FILES)
    return ran, result.stdout.str()


def test_given_reversed_and_shuffled_orders(pytester):
    assert order(pytester)[0] == FILES
    assert order(pytester, "--file-order=reversed")[0] == FILES[::-1]

    shuffled, header = order(pytester, "--file-order=shuffled")
    assert sorted(shuffled) == FILES
    seed = re.search(r"file order: shuffled with seed (\d+)", header)
    assert seed, header
    # The printed seed runs the same order again; another seed, another order.
    assert order(pytester, "--file-order=shuffled", f"--file-order-seed={seed[1]}")[0] == shuffled
    first, second = (
        order(pytester, "--file-order=shuffled", f"--file-order-seed={n}")[0] for n in (1, 2)
    )
    assert first != second
