"""CSV downloads' shared cells (callout/csvexport.py)."""

import csv

import pytest

from callout.csvexport import Echo, safe_cell


@pytest.mark.parametrize("text", ["=1+1", "+31 6", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_is_quoted(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Acme", "", "1+1", "user-0004", "a=b"])
def test_other_cells_are_kept_as_they_are(text):
    assert safe_cell(text) == text


def test_echo_returns_each_row_written():
    writer = csv.writer(Echo())
    assert writer.writerow(["a", "b,c"]) == 'a,"b,c"\r\n'
