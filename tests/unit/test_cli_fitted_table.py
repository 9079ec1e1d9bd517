"""common.print_fitted_table, the table `dlq list` and `orders by-customer` print:
on a narrow terminal it drops the listed columns in order, says which, and folds what stays rather
than cutting it; off a terminal every line is whole."""

from __future__ import annotations

import io

from orderflow_cli.common import OutputConsole, print_fitted_table

HEADERS = ["id", "when", "count", "note"]
ID = "4f1c2d9e-0b7a-4c55-9d8e-61a2b3c4d5e6"
WHEN = "2026-12-04T18:16:53.123Z"
NOTE = "the customer changed their mind after finding the same keyboard cheaper elsewhere"
ROWS = [[ID, WHEN, "3", NOTE], ["7", "2026-12-05T00:00:00.000Z", "12", "short"]]


def _print(width: int | None, *, terminal: bool = True) -> tuple[str, list[str]]:
    out = io.StringIO()
    console = OutputConsole(file=out, force_terminal=terminal, width=width, color_system=None, highlight=False)
    dropped = print_fitted_table(console, HEADERS, ROWS, folding={"note"}, drop=["count", "when"], fold_min=10)
    return out.getvalue(), dropped


def _cells(output: str, column: int) -> str:
    """The text of one column over all the table's body lines, its folds joined."""
    return "".join(line.strip("│").split("│")[column].strip() for line in output.splitlines() if line.startswith("│"))


def test_on_a_narrow_terminal_the_listed_columns_go_in_order_and_it_says_which() -> None:
    # id (36) + when (24) + note at its least (10) and the borders fit in 84 columns; count does not
    output, dropped = _print(84)

    assert dropped == ["count"]  # the first listed; when fits once it has gone, so it stays
    assert "Not shown at this width: count (widen the terminal, or pass --json)." in output
    header = next(line for line in output.splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == ["id", "when", "note"]
    assert all(len(line) <= 84 for line in output.splitlines())
    assert ID in output  # the identifiers on one line each, whole
    assert WHEN in output
    assert NOTE not in output  # the long text folded onto more lines
    assert _cells(output, 2).replace(" ", "") == (NOTE + "short").replace(" ", "")  # but all of it is there


def test_narrower_still_both_go_in_the_order_listed() -> None:
    output, dropped = _print(60)

    assert dropped == ["count", "when"]
    assert "Not shown at this width: count, when (widen" in output
    assert ID in output
    assert all(len(line) <= 60 for line in output.splitlines())


def test_when_even_that_does_not_fit_an_identifier_folds_and_is_never_cut() -> None:
    output, dropped = _print(30)

    assert dropped == ["count", "when"]
    assert "…" not in output
    assert all(len(line) <= 30 for line in output.splitlines() if line.startswith("│"))
    assert _cells(output, 0) == ID + "7"  # folded onto more lines, every character there


def test_off_a_terminal_every_row_is_one_whole_line_and_nothing_is_dropped() -> None:
    output, dropped = _print(None, terminal=False)

    assert dropped == []
    assert "Not shown" not in output
    first = next(line for line in output.splitlines() if ID in line)
    assert all(text in first for text in (ID, WHEN, "3", NOTE))
