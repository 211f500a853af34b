"""Order identity: client order ids unique for the account forever.

`tb-<profile>-<journal identity>-<seq>`. Every journal gets a random identity when it is
created, so a journal moved aside, a fresh one, one that lost its WAL or one on another
machine can never make an id an earlier one used (Binance takes a reused id as a new
order once the first is over). The sequence only grows, restored past every id the
journal holds.
"""

from __future__ import annotations

import re

# Binance accepts up to 36 characters of [A-Za-z0-9-_] as a client order id.
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
PROFILE_RE = re.compile(r"^[A-Za-z0-9]{1,10}$")
# A journal's identity, part of every client id it makes ("sim" for runs without one).
IDENTITY_RE = re.compile(r"^[a-z0-9]{3,8}$")


def client_id_prefix(profile: str, identity: str | None = None) -> str:
    """What our client order ids start with: `tb-<profile>-` for every journal of the
    profile, `tb-<profile>-<identity>-` for one journal's.

    Raises:
        ValueError: a profile that is not 1-10 letters or digits, or a bad identity.
    """
    if not PROFILE_RE.match(profile):
        raise ValueError(f"profile {profile!r} must be 1-10 letters or digits")
    if identity is None:
        return f"tb-{profile}-"
    if not IDENTITY_RE.match(identity):
        raise ValueError(f"journal identity {identity!r} must be 3-8 lowercase letters or digits")
    return f"tb-{profile}-{identity}-"


def client_order_id(prefix: str, seq: int) -> str:
    """`<prefix><seq>`: `tb-<profile>-<identity>-<seq>`, checked against Binance's rules.

    The longest id, a 10-letter profile and a 13-digit sequence, is 36 characters.

    Raises:
        ValueError: the id would not fit Binance's 36 characters of [A-Za-z0-9-_].
    """
    cid = f"{prefix}{seq}"
    if not CLIENT_ID_RE.match(cid):
        raise ValueError(f"client order id {cid!r} is longer than 36 characters")
    return cid


def client_id_seq(client_id: str) -> int | None:
    """The sequence number at the end of one of our client ids, else None."""
    tail = client_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


class OrderIds:
    """The client ids of one trader: `<prefix><seq>`, the sequence only ever growing."""

    __slots__ = ("next_seq", "prefix")

    def __init__(self, prefix: str, next_seq: int = 1) -> None:
        self.prefix = prefix
        self.next_seq = next_seq

    def next(self) -> str:
        """A new id, never given before by this trader nor by the journal it restored."""
        cid = client_order_id(self.prefix, self.next_seq)
        self.next_seq += 1
        return cid

    def seen(self, client_id: str) -> None:
        """An id the journal holds: the next one comes after it (ours only)."""
        seq = client_id_seq(client_id)
        if seq is not None and client_id.startswith(self.prefix):
            self.next_seq = max(self.next_seq, seq + 1)
