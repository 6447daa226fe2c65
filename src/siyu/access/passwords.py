"""Password hashing with argon2id (argon2-cffi); cost taken from settings."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from siyu.config import get_settings


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    settings = get_settings()
    return PasswordHasher(
        time_cost=settings.password_time_cost, memory_cost=settings.password_memory_kib
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verified against when the account does not exist, so that timing does not reveal which
# logins are real.
_DUMMY_HASH: list[str] = []


def burn_verification_time(password: str) -> None:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password("siyu-dummy-password"))
    verify_password(_DUMMY_HASH[0], password)
