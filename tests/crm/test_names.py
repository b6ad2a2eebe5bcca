"""One way to split a name in one piece, for a CSV file's "Full name" column and for the display
name of an address in the mail (the candidates list)."""

import pytest

from crm.names import split_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Mario Rossi", ("Mario", "Rossi")),
        ("Maria De Luca", ("Maria", "De Luca")),
        ("Ann van der Berg", ("Ann", "van der Berg")),
        ("Rossi, Mario", ("Mario", "Rossi")),
        ("rossi, mario", ("mario", "rossi")),
        ("De Luca, Maria", ("Maria", "De Luca")),
        ("Cher", ("Cher", "")),
        ("  Mario   Rossi  ", ("Mario", "Rossi")),
        (" Rossi ,  Mario ", ("Mario", "Rossi")),
        ('"Rossi, Mario"', ("Mario", "Rossi")),
        ('"Ann"', ("Ann", "")),
        ("Rossi,", ("", "Rossi")),
        ("", ("", "")),
        (None, ("", "")),
    ],
)
def test_a_name_in_one_piece_splits_into_first_and_last(name, expected):
    assert split_name(name) == expected
