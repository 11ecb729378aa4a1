"""Real SSH keys made by `ssh-keygen` for the publisher-signature tests, and helpers to drive it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Key:
    """A key pair ssh-keygen made: the private key file and its public line."""

    path: Path
    public: str  # "ssh-ed25519 AAAA... comment"

    @property
    def openssh(self) -> str:
        """`type base64`, as an allowed-signers or revoked-keys line wants it."""
        return " ".join(self.public.split()[:2])

    @property
    def fingerprint(self) -> str:
        """The fingerprint as `ssh-keygen -l` prints it."""
        out = ssh_keygen("-l", "-f", f"{self.path}.pub").stdout
        return out.split()[1]


def ssh_keygen(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run ssh-keygen; stdout/stderr as text; never raises on a non-zero exit."""
    return subprocess.run(
        ["ssh-keygen", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def make_key(
    folder: Path, name: str, *, kind: str = "ed25519", bits: int = 0, passphrase: str = ""
) -> Key:
    path = folder / name
    size = ["-b", str(bits)] if bits else []
    done = ssh_keygen(
        "-q", "-t", kind, *size, "-N", passphrase, "-C", f"{name}@example.com", "-f", str(path)
    )
    assert done.returncode == 0, done.stderr
    return Key(path=path, public=Path(f"{path}.pub").read_text().strip())


def make_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Key]:
    """alice and bob (Ed25519), carol (Ed25519 behind a passphrase), dave (ECDSA P-256),
    weak (RSA 1024 bits, too short)."""
    folder = tmp_path_factory.mktemp("keys")
    return {
        "alice": make_key(folder, "alice"),
        "bob": make_key(folder, "bob"),
        "carol": make_key(folder, "carol", passphrase="correct horse"),  # noqa: S106
        "dave": make_key(folder, "dave", kind="ecdsa"),
        "weak": make_key(folder, "weak", kind="rsa", bits=1024),
    }
