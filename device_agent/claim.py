"""Claim codes and passwords of complaints: making them, hashing and checking the password.

A citizen who files a complaint gets a claim code (eight digits, the last a
check digit so a mistyped code is caught before anyone asks the hub) and
chooses a password of six digits. Only a salted, slow hash of the password
ever leaves the kiosk (the complaint envelope's ``secret``); the hub checks a
lookup against that hash in constant time.

This is part of the wire protocol, so it lives beside it on the agent
library's public surface: :mod:`device_agent.protocol` validates ``secret``
with :data:`SECRET`, a kiosk (a device role) makes codes and hashes, and the
hub, which speaks the contract but does not define it, only checks them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

CODE_DIGITS = 8
PASSWORD_DIGITS = 6
CLAIM_CODE = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")
PASSWORD = re.compile(rf"[0-9]{{{PASSWORD_DIGITS}}}")
ALGORITHM = "pbkdf2_sha256"
# About 0.1 s on a Raspberry Pi 4: slow enough that a stolen hub file does not
# hand out every password at once, fast enough for a kiosk and a rate-limited lookup.
ITERATIONS = 60_000
SECRET = re.compile(rf"{ALGORITHM}\$[0-9]{{4,7}}\$[0-9a-f]{{32}}\$[0-9a-f]{{64}}")


def _luhn_digit(digits: str) -> str:
    """The Luhn check digit that completes ``digits``."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_claim_code() -> str:
    """A random claim code: seven random digits and a check digit."""
    body = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS - 1))
    return body + _luhn_digit(body)


def is_claim_code(value: str) -> bool:
    """Whether ``value`` is eight digits whose check digit is right (catches typos)."""
    return bool(CLAIM_CODE.fullmatch(value)) and _luhn_digit(value[:-1]) == value[-1]


def format_claim_code(code: str) -> str:
    """The code as shown to a citizen, in groups of four digits."""
    return f"{code[:4]} {code[4:]}" if len(code) == CODE_DIGITS else code


def is_password(value: str) -> bool:
    """Whether ``value`` is a password a citizen may choose (six digits)."""
    return bool(PASSWORD.fullmatch(value))


def hash_password(password: str, *, iterations: int = ITERATIONS) -> str:
    """The salted hash of ``password`` that travels in a complaint instead of it."""
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), iterations)
    return f"{ALGORITHM}${iterations}${salt}${digest.hex()}"


def password_matches(password: str, secret: str) -> bool:
    """Whether ``password`` is the one hashed into ``secret``, compared in constant time."""
    if not SECRET.fullmatch(secret):
        return False
    _, iterations, salt, expected = secret.split("$")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)


# A well-formed secret that no password matches, hashed when a lookup names an
# unknown code so that "no such code" takes as long as "wrong password".
DECOY_SECRET = f"{ALGORITHM}${ITERATIONS}${'0' * 32}${'0' * 64}"
