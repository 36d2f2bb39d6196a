"""The fast reader of PDF hex strings (congvan/signing/hexstrings.py) gives what pyHanko's own reader gives, for
every form (whitespace, odd digits, comments, bad characters, no end), and leaves the stream at the same place."""

from __future__ import annotations

import io
import random

import pytest

from congvan.signing import hexstrings


def pyhanko_read(data: bytes) -> tuple[object, int]:
    from pyhanko.pdf_utils import generic

    reader = hexstrings._pyhanko_reader or generic.read_hex_string_from_stream
    stream = io.BytesIO(data)
    try:
        value = reader(stream)
    except Exception as exc:
        return (type(exc), str(exc)), -1
    return (type(value), bytes(value.original_bytes)), stream.tell()


def fast_read(data: bytes) -> tuple[object, int]:
    stream = io.BytesIO(data)
    try:
        value = hexstrings.read_hex_string(stream)
    except Exception as exc:
        return (type(exc), str(exc)), -1
    return (type(value), bytes(value.original_bytes)), stream.tell()


CASES = [
    b"<>", b"<> tail", b"<3082>", b"<308>", b"<30 82\n0a\r\t\x00FF>/Next", b"<FEFF00410042>",
    b"<30% a comment\n82>", b"<30g2>", b"<3082", b"<", b"<30 82 > 1 0 R", b"<" + b"0" * 40000 + b">",
    b"<" + b"3082" * 2048 + b"0" * 8192 + b">>>", b"<4142>" + b"x" * 20000,
]


@pytest.mark.parametrize("data", CASES)
def test_same_value_errors_and_position_as_pyhanko(data: bytes) -> None:
    assert fast_read(data) == pyhanko_read(data)


def test_random_hex_strings_with_whitespace() -> None:
    rng = random.Random(13)
    for _ in range(300):
        alphabet = b"0123456789abcdefABCDEF" + b" \n\r\t\f\x00" + (b"%xz<" if rng.random() < 0.2 else b"")
        body = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        data = b"<" + body + (b">" if rng.random() < 0.9 else b"") + b" 0 obj"
        assert fast_read(data) == pyhanko_read(data), data


def test_installed_in_pyhanko_for_signing_and_verifying() -> None:
    from pyhanko.pdf_utils import generic

    hexstrings.install()
    hexstrings.install()  # once only: pyHanko's own reader is kept for the unusual forms
    assert generic.read_hex_string_from_stream is hexstrings.read_hex_string
    assert hexstrings._pyhanko_reader is not None and hexstrings._pyhanko_reader is not hexstrings.read_hex_string
