"""Holdout groups (docs/experiences.md, "Goals, holdouts and how to read the results").

Who is held out is a pure function of the application, the experience, the user and the
percentage: a SHA-256 of ``"application:experience:user"`` (``*`` for the experience in the
application-wide holdout), so every process, every restart and every replica agrees without
storing anything, and the same user falls in the same group of one experience for its lifetime.
Python's ``hash()`` would not do: it is salted per process.

The first 8 bytes of the digest, as an unsigned integer, modulo 10,000, give a bucket 0..9999;
the user is held out when the bucket is below ``percent * 100``. Raising the percentage only
adds users to the holdout (those already in it stay), lowering it only releases some.
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000
APPLICATION_WIDE = "*"


def bucket(application_id: int, experience_id: int | str, user_id: int) -> int:
    """The user's bucket (0..9999) for one experience (``"*"``: the application-wide holdout)."""
    key = f"{application_id}:{experience_id}:{user_id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % BUCKETS


def held_out(application_id: int, experience_id: int | str, user_id: int, percent: int) -> bool:
    """Whether the user is in the holdout group: never served the experience (or, with
    ``experience_id`` ``"*"``, any experience of the application)."""
    if percent <= 0:
        return False
    return bucket(application_id, experience_id, user_id) < percent * (BUCKETS // 100)
