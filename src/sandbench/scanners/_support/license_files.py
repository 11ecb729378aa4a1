"""Which license a license file's text is: the module's own (`LICENSE*`, `LICENCE*`,
`COPYING*` at its root) and each bundled distribution's (in its `.dist-info`).

The declared license (module.json's `license`, a distribution's METADATA) is what the
licenses scanner judges, and an author writes it: a module whose `LICENSE` is the GNU
AGPL can declare `MIT` and pass a policy that denies the AGPL. The text is what binds
whoever uses the module, so it is read too. Only the texts recognised below are judged,
by phrases of their opening (a title, or a first clause within the first 3,000
characters, so that a notice appended after another license is not mistaken for the
file's license): a file that names none of them says nothing here.

The table is ordered from the most specific: the LGPL's and AGPL's texts name the GPL.
"""

from __future__ import annotations

import re
from pathlib import Path

from .files import read_capped

__all__ = ["family", "license_files", "text_license"]

_TITLE, _HEAD = 400, 3000
_NAMES = re.compile(r"^(licen[cs]e|copying)([-_. ].*)?$", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
# (SPDX id family, where to look, phrases that must all be there: lower case, blanks
# single). Titled licenses by their title (the first 400 characters: the GPL-2.0's
# preamble names the Library GPL further on); permissive ones by their first clause,
# after any number of copyright lines.
_TEXTS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("AGPL-3.0", _TITLE, ("gnu affero general public license", "version 3")),
    ("SSPL-1.0", _TITLE, ("server side public license",)),
    ("BUSL-1.1", _TITLE, ("business source license 1.1",)),
    ("LGPL-3.0", _TITLE, ("gnu lesser general public license", "version 3")),
    ("LGPL-2.1", _TITLE, ("gnu lesser general public license", "version 2.1")),
    ("LGPL-2.0", _TITLE, ("gnu library general public license", "version 2")),
    ("GPL-3.0", _TITLE, ("gnu general public license", "version 3")),
    ("GPL-2.0", _TITLE, ("gnu general public license", "version 2")),
    ("ZPL-2.1", _TITLE, ("zope public license", "2.1")),
    ("EUPL-1.2", _TITLE, ("european union public licence", "v. 1.2")),
    ("MPL-2.0", _TITLE, ("mozilla public license", "2.0")),
    ("Apache-2.0", _TITLE, ("apache license", "version 2.0")),
    ("Unlicense", _HEAD, ("this is free and unencumbered software released into the public",)),
    ("MIT", _HEAD, ("permission is hereby granted, free of charge, to any person obtaining",)),
    (
        "BSD-3-Clause",
        _HEAD,
        ("redistribution and use in source and binary forms", "neither the name"),
    ),
    ("BSD-2-Clause", _HEAD, ("redistribution and use in source and binary forms",)),
    ("ISC", _HEAD, ("permission to use, copy, modify, and/or distribute this software for any",)),
)


def text_license(text: str) -> str | None:
    """The SPDX family (`GPL-3.0`, `MIT`; no `-only` / `-or-later`) whose text `text`
    opens with, or None when it is none of the table's."""
    head = _SPACE.sub(" ", text[: _HEAD * 2].lower()).strip()
    for family, window, phrases in _TEXTS:
        if all(phrase in head[:window] for phrase in phrases):
            return family
    return None


def family(spdx_id: str) -> str:
    """What a license text's opening can tell of an SPDX id: no `-only` / `-or-later` /
    `+`, one BSD (the clause that tells 2 from 3 is worded many ways) and one MIT (MIT-0
    opens with MIT's grant)."""
    key = spdx_id.removesuffix("+").removesuffix("-only").removesuffix("-or-later")
    for common in ("BSD", "MIT"):
        if key.startswith(common):
            return common
    return key


def license_files(root: Path, files: list[Path]) -> dict[str, list[tuple[str, str]]]:
    """Recognised license files among `files` (under `root`): '' for the module's own (at
    its root), else the `.dist-info` folder's path -> [(file's path, SPDX family)]."""
    found: dict[str, list[tuple[str, str]]] = {}
    for path in files:
        rel = path.relative_to(root)
        owner = _owner(rel)
        if owner is None or not _NAMES.match(path.name):
            continue
        try:
            text = read_capped(path, 1024 * 1024).decode("utf-8", errors="replace")
        except (OSError, ValueError):
            continue
        family = text_license(text)
        if family is not None:
            found.setdefault(owner, []).append((rel.as_posix(), family))
    return found


def _owner(rel: Path) -> str | None:
    """'' for a file at the module's root; the `.dist-info` folder for one in it (or in
    its `licenses/` subfolder, PEP 639); None for any other place."""
    parts = rel.parts
    if len(parts) == 1:
        return ""
    for at, part in enumerate(parts[:-1]):
        if part.endswith(".dist-info") and len(parts) - at <= 3:
            return Path(*parts[: at + 1]).as_posix()
    return None
