"""Argon2id password hashing at named cost levels, and the password policy.

Levels (Argon2id; time cost t, memory m, parallelism p; hash time measured on the 2-core
development machine):

| level       | parameters              | about   | use                                      |
|-------------|-------------------------|---------|------------------------------------------|
| development | t=1, m=8 MiB, p=1       | 10 ms   | tests and local runs; refused in production |
| standard    | t=3, m=64 MiB, p=4      | 120 ms  | default; RFC 9106 second recommended option |
| high        | t=4, m=256 MiB, p=4     | 600 ms  | more margin, for hosts with memory to spare |
| paranoid    | t=1, m=2 GiB, p=4       | 1.6-4 s | RFC 9106 first recommended option         |

A stored hash made at another level is re-hashed at the current level on the next login.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

LEVELS: dict[str, tuple[int, int, int]] = {  # time cost, memory KiB, parallelism
    "development": (1, 8 * 1024, 1),
    "standard": (3, 64 * 1024, 4),
    "high": (4, 256 * 1024, 4),
    "paranoid": (1, 2 * 1024 * 1024, 4),
}
MIN_LENGTH, MAX_LENGTH = 8, 128
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


@cache
def hasher(level: str) -> PasswordHasher:
    time_cost, memory_cost, parallelism = LEVELS[level]
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, hash_len=32
    )


def hash_password(password: str, level: str) -> str:
    return hasher(level).hash(password)


def verify_password(stored_hash: str, password: str, level: str) -> bool:
    try:
        return hasher(level).verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str, level: str) -> bool:
    return hasher(level).check_needs_rehash(stored_hash)


@cache
def dummy_hash(level: str) -> str:
    """A hash to verify against when the user does not exist, so both cases take as long."""
    return hash_password("not-a-real-password-for-timing-only", level)


@cache
def common_passwords() -> frozenset[str]:
    return frozenset(
        line.strip().lower()
        for line in COMMON_PASSWORDS_FILE.read_text().splitlines()
        if line.strip()
    )


def policy_problems(password: str, *, email: str | None, username: str | None) -> list[str]:
    """What is wrong with a new password (NIST SP 800-63B style: length and blocklists, no
    composition rules). Empty when it is acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    personal = {value.lower() for value in (email, username) if value}
    if email:
        personal.add(email.split("@")[0].lower())
    if any(value and value in lowered for value in personal if len(value) >= 4) or (
        lowered in personal
    ):
        problems.append("Do not use your email address or username in your password.")
    if lowered in common_passwords():
        problems.append("This password is too common; choose another one.")
    return problems
