"""Run the test files in another order: ``--file-order=reversed`` or ``shuffled``.

A test that passes only after (or before) some other file hides a leak: a
socket left to the garbage collector, a retained message, a thread still
running. ``make test`` shuffles the files, keeping each file's own tests in
their written order, and prints the seed so a failing order can be run
again with ``--file-order-seed``.
"""

from __future__ import annotations

import random

import pytest

ORDERS = ("given", "reversed", "shuffled")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("file order")
    group.addoption(
        "--file-order",
        choices=ORDERS,
        default="given",
        help="order of the test files: given (default), reversed, or shuffled",
    )
    group.addoption(
        "--file-order-seed",
        type=int,
        default=None,
        metavar="N",
        help="seed of --file-order=shuffled (default: a new one, printed in the header)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("file_order_seed") is None:
        config.option.file_order_seed = random.SystemRandom().randrange(10**6)


def pytest_report_header(config: pytest.Config) -> str | None:
    order = config.getoption("file_order")
    if order == "shuffled":
        seed = config.getoption("file_order_seed")
        return f"file order: shuffled with seed {seed} (again: --file-order-seed={seed})"
    if order == "reversed":
        return "file order: reversed"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    order = config.getoption("file_order")
    if order == "given":
        return
    files = list(dict.fromkeys(item.path for item in items))
    if order == "reversed":
        files.reverse()
    else:
        random.Random(config.getoption("file_order_seed")).shuffle(files)
    rank = {path: index for index, path in enumerate(files)}
    # A stable sort: the tests of one file keep their order.
    items.sort(key=lambda item: rank[item.path])
