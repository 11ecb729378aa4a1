"""The trust store: who may publish what (an allowed-signers file) and which keys are revoked.

The allowed-signers file has git's / OpenSSH's format (`ssh-keygen(1)`, ALLOWED SIGNERS),
one key per line, `#` comments and blank lines ignored:

    PRINCIPALS [OPTIONS] KEYTYPE BASE64KEY [COMMENT]

PRINCIPALS is a comma-separated pattern list matched against the module's name (`*` any
text, `/` included; `?` one character; a `!pattern` that matches vetoes the line), e.g.
`@plataforma/*`. OPTIONS (comma-separated) may be `namespaces="sandbench,git"`,
`valid-after="YYYYMMDD[HHMM[SS]][Z]"` and `valid-before=...`; `cert-authority` is refused,
as is any other option. The revocation list has one public key a line (`KEYTYPE BASE64KEY
[COMMENT]`), as `ssh-keygen -Y verify -r` reads a text file; binary KRLs are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sandbench.errors import TrustError

from .sshsig import PublicKey, SignatureError, parse_public_key

__all__ = ["AllowedSigner", "TrustStore", "load_trust_store", "match_pattern_list"]

MAX_TRUST_FILE_BYTES = 4 * 1024 * 1024
_KRL_MAGIC = b"SSHKRL\n\0"
_OPTION = re.compile(r'([A-Za-z-]+)(?:="([^"]*)")?(?:,|$)')


@dataclass(frozen=True)
class AllowedSigner:
    """One line of an allowed-signers file."""

    principals: str
    key: PublicKey
    namespaces: str | None = None
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    line: int = 0
    comment: str = ""


@dataclass(frozen=True)
class TrustStore:
    """Allowed signers and revoked keys, with the files they came from (for the report)."""

    signers: tuple[AllowedSigner, ...] = ()
    revoked: frozenset[bytes] = frozenset()
    signers_file: Path | None = None
    revoked_file: Path | None = None


def _glob_match(pattern: str, text: str) -> bool:
    """`*` any run of characters, `?` one, the rest literal; in O(len(pattern) * len(text))
    (the usual last-star backtracking; a regular expression could take exponential time)."""
    p = t = 0
    star, resume = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] in ("?", text[t]) and pattern[p] != "*":
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume, p = p, t, p + 1
        elif star >= 0:
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    return all(c == "*" for c in pattern[p:])


def match_pattern_list(patterns: str, text: str) -> bool:
    """OpenSSH's pattern-list match: some pattern matches `text` and no `!pattern` does."""
    found = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if _glob_match(pattern[1:] if negated else pattern, text):
            if negated:
                return False
            found = True
    return found


def _time(value: str) -> datetime:
    utc = value.endswith(("Z", "z"))
    digits = value[:-1] if utc else value
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    if not digits.isdigit() or len(digits) not in formats:
        raise ValueError(f"{value!r} is not a time as YYYYMMDD[HHMM[SS]][Z]")
    when = datetime.strptime(digits, formats[len(digits)])
    return when.replace(tzinfo=UTC) if utc else when.astimezone()


def _split_first(text: str) -> tuple[str, str]:
    """The first field (a double-quoted one may hold spaces) and the rest."""
    if text.startswith('"'):
        end = text.find('"', 1)
        if end < 0:
            raise ValueError("a quoted field is not closed")
        return text[1:end], text[end + 1 :].lstrip()
    first, _, rest = text.partition(" ")
    return first, rest.lstrip()


def _options(text: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    at = 0
    while at < len(text):
        match = _OPTION.match(text, at)
        if match is None:
            raise ValueError(f"cannot read the options {text!r}")
        found[match.group(1).lower()] = match.group(2)
        at = match.end()
    return found


def _signer(text: str, number: int) -> AllowedSigner:
    principals, rest = _split_first(text.replace("\t", " "))
    options: dict[str, str | None] = {}
    if rest and not rest.startswith(("ssh-", "ecdsa-", "sk-")):
        option_text, rest = _split_first_options(rest)
        options = _options(option_text)
    if "cert-authority" in options:
        raise ValueError("cert-authority is not supported: list each publisher's own key")
    unknown = set(options) - {"namespaces", "valid-after", "valid-before"}
    if unknown:
        raise ValueError(f"unsupported option {sorted(unknown)[0]!r}")
    after, before = options.get("valid-after"), options.get("valid-before")
    return AllowedSigner(
        principals=principals,
        key=parse_public_key(rest),
        namespaces=options.get("namespaces"),
        valid_after=_time(after) if after else None,
        valid_before=_time(before) if before else None,
        line=number,
        comment=" ".join(rest.split()[2:]),
    )


def _split_first_options(text: str) -> tuple[str, str]:
    """Options end at the first space outside double quotes."""
    quoted = False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            return text[:i], text[i:].lstrip()
    return text, ""


def _read(path: Path) -> list[tuple[int, str]]:
    try:
        if path.stat().st_size > MAX_TRUST_FILE_BYTES:
            raise TrustError(path, ["larger than 4 MiB; a trust file should be far smaller"])
        data = path.read_bytes()
    except OSError as exc:
        raise TrustError(path, [f"cannot be read: {exc.strerror}"]) from None
    if data.startswith(_KRL_MAGIC):
        raise TrustError(path, ["is a binary KRL; list the revoked public keys one per line"])
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise TrustError(path, ["is not UTF-8 text"]) from None
    return [
        (n, line.strip())
        for n, line in enumerate(lines, 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _parse_signers(path: Path) -> tuple[AllowedSigner, ...]:
    signers, problems = [], []
    for number, line in _read(path):
        try:
            signers.append(_signer(line, number))
        except (ValueError, SignatureError) as exc:
            problems.append(f"line {number}: {exc}")
    if problems:
        raise TrustError(path, problems)
    return tuple(signers)


def _parse_revoked(path: Path) -> frozenset[bytes]:
    keys, problems = set(), []
    for number, line in _read(path):
        try:
            keys.add(parse_public_key(line).blob)
        except SignatureError as exc:
            problems.append(f"line {number}: {exc}")
    if problems:
        raise TrustError(path, problems)
    return frozenset(keys)


def load_trust_store(allowed_signers: Path | None, revoked: Path | None) -> TrustStore | None:
    """Read the allowed-signers file and the revocation list; None when neither is given.

    Raises `TrustError` naming the file and, per bad line, its number and what is wrong.
    """
    if allowed_signers is None and revoked is None:
        return None
    return TrustStore(
        signers=_parse_signers(allowed_signers) if allowed_signers else (),
        revoked=_parse_revoked(revoked) if revoked else frozenset(),
        signers_file=allowed_signers,
        revoked_file=revoked,
    )
