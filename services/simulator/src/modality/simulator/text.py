"""Deterministic filler text made of pieces that are one token each.

Every word below is a single token in both o200k_base and cl100k_base, with or without
a leading space and capitalised, so a completion of N pieces really is N tokens long.
"""

from __future__ import annotations

import random

WORDS: tuple[str, ...] = tuple(
    """the of and to in is that for it as with was on be by this are from at or an which
    have not has but can will all one its also more their they been other when new would
    there some these into than only time such most may after first two over where many those
    through system data model each should could between both under while because request
    answer review report contract summary support ticket customer service quality value
    result results order account policy risk price cost team market product business process
    project plan change issue problem question reason clear simple short final direct common
    general specific local global early recent current annual total major minor key main open
    close closed late small large high low long strong weak fast slow safe ready good better
    best right left next last same different important possible available additional include
    includes provide provides show shows need needs make makes take keep give find work works
    help use uses run runs check checks note notes expect follow return returns record records
    update updates send read write writes state states level levels point points line lines
    case cases group groups number numbers part parts way day days week month months year
    years people company companies section sections terms term party date dates notice period
    payment payments amount fee rate rates limit limits budget usage route routes domain task
    tasks step steps example examples document documents text context details detail source
    sources reviews client clients user users""".split()
)


def _corpus(size: int) -> tuple[str, ...]:
    """A fixed pseudo-random text of ``size`` one-token pieces, built once at import."""
    rng = random.Random(20_240_601)
    pieces: list[str] = []
    left_in_sentence = 0
    while len(pieces) < size:
        if left_in_sentence == 0:
            pieces.append(" " + rng.choice(WORDS).capitalize())
            left_in_sentence = rng.randint(5, 13)
        elif left_in_sentence == 1:
            pieces.append(".")
            left_in_sentence = 0
        else:
            pieces.append(" " + rng.choice(WORDS))
            left_in_sentence -= 1
    return tuple(pieces)


_CORPUS = _corpus(8192)


def sentence_pieces(seed: int, count: int) -> list[str]:
    """``count`` one-token pieces of sentence-like text, chosen by ``seed``.

    A window of a fixed corpus rather than fresh draws: it costs a slice, not a random
    number per word, which matters at thousands of simulated requests per second.
    """
    size = len(_CORPUS)
    start = seed % size
    pieces = list(_CORPUS[start : start + count])
    while len(pieces) < count:
        pieces.extend(_CORPUS[: count - len(pieces)])
    first = pieces[0].lstrip()
    pieces[0] = first[:1].upper() + first[1:] if first != "." else "Ok"
    if count > 1:
        pieces[-1] = "."  # a finished answer ends its last sentence
    return pieces


def phrase(rng: random.Random, low: int = 2, high: int = 6) -> str:
    """A short lowercase phrase, for string values inside generated JSON."""
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))
