"""People's names as other systems write them in one piece: a CSV file's "Full name" column, the
display name of a mail address ("Mario Rossi" <mario@example.com>). Pure functions."""


def split_name(full: str | None) -> tuple[str, str]:
    """A name in one piece as (first name, last name).

    - "Mario Rossi" -> ("Mario", "Rossi"); "Maria De Luca" -> ("Maria", "De Luca"): the first
      word is the first name and the rest the last name, since a last name of several words
      ("De Luca", "van der Berg") is far more common than a first name of several, and a rep
      corrects the odd "Anna Maria Rossi" in one edit.
    - "Rossi, Mario" -> ("Mario", "Rossi"): a comma puts the last name first (address books,
      Outlook's display names, directory exports). Case is kept as written ("rossi, mario" ->
      ("mario", "rossi")): a name's case is not ours to guess.
    - One word is a first name ("Cher" -> ("Cher", "")); nothing is ("", "").
    - Spaces are trimmed and collapsed, and double quotes dropped: they come from a display
      name's quoting ('"Rossi, Mario"') and are never part of a name.

    Lengths are the caller's business: the models' fields have their own limit.
    """
    full = " ".join((full or "").replace('"', "").split())
    if "," in full:
        last, _comma, first = full.partition(",")
        return first.strip(), last.strip()
    first, _space, last = full.partition(" ")
    return first, last
