"""The 统一社会信用代码 check (GB 32100-2015) against published codes, valid and broken."""

from __future__ import annotations

import pytest

from services.enterprises.codes import CHARSET, check_character, credit_code_error, normalise
from tests.enterprise_fixtures import VALID_CODES


@pytest.mark.parametrize("code", VALID_CODES)
def test_published_codes_pass(code):
    assert credit_code_error(code) is None
    assert check_character(code[:17]) == code[17]


def test_a_sum_divisible_by_31_gives_the_check_character_0():
    """31 - (sum mod 31) is 31 when the sum is a multiple of 31: written as 0."""
    assert check_character("0" * 17) == "0"
    assert credit_code_error("0" * 18) is None


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("91350100M000100Y44", "校验位"),  # check character changed
        ("91110000600037341M", "校验位"),
        ("91310000MA1FL1MMX", "18 位"),  # one short
        ("91310000MA1FL1MMXLL", "18 位"),  # one too many
        ("91350100I000100Y43", "I"),  # I, O, Z, S and V are never used
        ("91350100O000100Y43", "O"),
        ("91350100Z000100Y43", "Z"),
        ("91350100S000100Y43", "S"),
        ("91350100V000100Y43", "V"),
        ("9135010-M000100Y43", "-"),
    ],
)
def test_broken_codes_fail_with_a_reason(code, words):
    problem = credit_code_error(code)
    assert problem is not None and words in problem


def test_the_charset_has_31_characters_without_the_five_forbidden_letters():
    assert len(CHARSET) == 31 and not set("IOZSV") & set(CHARSET)


def test_codes_are_read_as_people_copy_them():
    assert normalise(" 9135 0100m000100y43 ") == "91350100M000100Y43"
