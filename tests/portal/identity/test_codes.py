"""One-time codes as pure values: random, digests bound to one NIK, typed as people type."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from portal.identity.codes import CODE_DIGITS, code_digest, new_code, nik_digest, normalise_code

NIKS = st.from_regex(r"\A[1-9][0-9]{15}\Z")
CODES = st.from_regex(r"\A[0-9]{6}\Z")


@given(NIKS, NIKS, CODES)
def test_a_code_for_one_nik_fits_no_other(first: str, second: str, code: str) -> None:
    same = code_digest("k" * 32, first, code) == code_digest("k" * 32, second, code)
    assert same == (first == second)


@given(NIKS, CODES, CODES)
def test_the_digest_tells_codes_apart_and_hides_them(nik: str, code: str, other: str) -> None:
    digest = code_digest("k" * 32, nik, code)
    assert (digest == code_digest("k" * 32, nik, other)) == (code == other)
    assert code not in digest and nik not in digest
    assert digest != code_digest("another-secret-of-32-characters!", nik, code)


@given(CODES, st.lists(st.sampled_from([" ", "-", "."]), max_size=3))
def test_codes_are_read_as_people_type_them(code: str, separators: list[str]) -> None:
    typed = code[:3] + "".join(separators) + code[3:]
    assert normalise_code(typed) == code
    assert code_digest("s" * 32, "3601284811855133", typed) == code_digest(
        "s" * 32, "3601284811855133", code)


def test_new_codes_have_six_digits_and_vary() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(code) == CODE_DIGITS and code.isdigit() for code in codes)
    assert len(codes) > 190  # 200 draws from a million: collisions are rare


@given(NIKS)
def test_the_nik_digest_is_keyed(nik: str) -> None:
    assert nik_digest("a" * 32, nik) != nik_digest("b" * 32, nik)
    assert nik not in nik_digest("a" * 32, nik)
