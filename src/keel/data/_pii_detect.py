"""Detecting personal data in values and column names: the patterns and checks behind `pii`.

Private to `keel.data.pii`, which holds the public API; see its docstring for the design.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from keel.errors import ConfigError

VALUE_KINDS = ("email", "phone", "card", "ssn", "iban", "ipv4", "ipv6")

# The order in which overlapping readings are settled: the more specific kind first.
_PRIORITY = ("email", "iban", "card", "ssn", "ipv4", "ipv6", "phone")

_Span = tuple[int, int]


# --- patterns --------------------------------------------------------------------------------


def _bounded(
    core: str, *, before: str, after: str, pair: tuple[str, str] = ("", "")
) -> tuple[str, re.Pattern[str]]:
    """One pattern written twice: for RE2 (boundaries consumed) and for Python (lookarounds).

    `before`: characters that may not precede a match; `after`: characters that may not follow
    it; `pair`: characters that may not follow it when they are followed by one of `pair[1]`
    (a sentence may end in "." after an e-mail, but "1.2" continues a number). Both forms match
    the same strings, which the tests check.
    """
    chars, nxt = pair
    if chars:
        tail = f"(?:$|[^{after}{chars}]|[{chars}](?:$|[^{nxt}]))"
        ahead = f"(?![{after}])(?![{chars}][{nxt}])"
    else:
        tail = f"(?:$|[^{after}])"
        ahead = f"(?![{after}])"
    return f"(?:^|[^{before}])(?:{core}){tail}", re.compile(f"(?<![{before}])(?:{core}){ahead}")


_WORD = "0-9A-Za-z_"

_EMAIL = _bounded(
    r"[0-9A-Za-z._%+\-]{1,64}@(?:[0-9A-Za-z\-]{1,63}\.){1,8}[A-Za-z]{2,24}",
    before=r"0-9A-Za-z._%+\-",
    after=_WORD + r"\-@",
    pair=(".", "0-9A-Za-z"),
)

_SSN = _bounded(
    # area 001-899 except 666; group 01-99; serial 0001-9999
    r"(?:00[1-9]|0[1-9][0-9]|[1-578][0-9]{2}|6[0-57-9][0-9]|66[0-57-9])"
    r"-(?:0[1-9]|[1-9][0-9])"
    r"-(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})",
    before=_WORD + r"\-",
    after=_WORD,
    pair=(r"\-", "0-9"),
)

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = _bounded(
    rf"{_OCTET}(?:\.{_OCTET}){{3}}", before=_WORD + ".", after=_WORD, pair=(".", "0-9")
)

_IPV6 = _bounded(
    r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?:\.[0-9]{1,3}){0,3}",
    before=_WORD + ":.",
    after=_WORD + ":",
    pair=(".", "0-9"),
)

_IBAN = _bounded(
    r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?",
    before=_WORD,
    after="a-z_",  # a longer match is cut to the country's length by `_find_iban`
)

# A phone number: "+" and a country code, or a national number with at least one separator
# or parenthesised area code. Digit groups are always split by a separator or a parenthesis,
# so the pattern cannot backtrack badly.
_PHONE_UNIT = r"(?:[ .\-]?\([0-9]{1,5}\)[ .\-]?|[ .\-])[0-9]{1,14}"
_PHONE = _bounded(
    rf"\+[0-9]{{1,14}}(?:{_PHONE_UNIT}){{0,7}}"
    rf"|(?:\([0-9]{{1,5}}\)[ .\-]?|[0-9]{{1,5}}[ .\-])[0-9]{{1,14}}(?:{_PHONE_UNIT}){{0,6}}",
    before=_WORD + r"+.,/\-",
    after=_WORD,
    pair=(r".,:/\-", "0-9"),
)

# Maximal runs of digit groups split by one space or dash; cards are found inside them.
_CARD_RUN = re.compile(r"(?<![0-9A-Za-z_.])[0-9]+(?:[ \-][0-9]+)*")
_CARD_PREFILTER = r"[0-9](?:[ \-]?[0-9]){12}"

# Issuer ranges of the major card networks (first digits, inclusive) and their lengths. Luhn
# alone passes one random number in ten, so a column of 16-digit ids would look like cards.
_CARD_RANGES: tuple[tuple[str, str, range], ...] = (
    ("4", "4", range(13, 20, 3)),  # Visa: 13, 16, 19
    ("51", "55", range(16, 17)),  # Mastercard
    ("2221", "2720", range(16, 17)),  # Mastercard 2-series
    ("34", "34", range(15, 16)),  # American Express
    ("37", "37", range(15, 16)),
    ("300", "305", range(14, 20)),  # Diners Club
    ("36", "36", range(14, 20)),
    ("38", "39", range(14, 20)),
    ("3528", "3589", range(16, 20)),  # JCB
    ("50", "50", range(13, 20)),  # Maestro
    ("56", "69", range(13, 20)),  # Maestro, Discover, UnionPay, RuPay
)

# IBAN length per country (ISO 13616 registry).
_IBAN_LENGTHS = {
    **dict.fromkeys(["NO"], 15),
    **dict.fromkeys(["BE"], 16),
    **dict.fromkeys(["DK", "FI", "FO", "GL", "NL", "SD"], 18),
    **dict.fromkeys(["MK", "SI"], 19),
    **dict.fromkeys(["AT", "BA", "EE", "KZ", "LT", "LU", "XK"], 20),
    **dict.fromkeys(["CH", "HR", "LI", "LV"], 21),
    **dict.fromkeys(["BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"], 22),
    **dict.fromkeys(["AE", "GI", "IL", "IQ", "TL"], 23),
    **dict.fromkeys(["AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"], 24),
    **dict.fromkeys(["LY", "PT", "ST"], 25),
    **dict.fromkeys(["IS", "TR"], 26),
    **dict.fromkeys(["FR", "GR", "IT", "MC", "MR", "SM"], 27),
    **dict.fromkeys(["AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL", "SV"], 28),
    **dict.fromkeys(["BR", "EG", "PS", "QA", "UA"], 29),
    **dict.fromkeys(["JO", "KW", "MU"], 30),
    **dict.fromkeys(["MT", "SC"], 31),
    **dict.fromkeys(["LC"], 32),
    **dict.fromkeys(["RU"], 33),
}

_SSN_SHAPE = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{4}")
_DATE_START = re.compile(
    r"(?:19|20)[0-9]{2}[\-./ ](?:0?[1-9]|1[0-2])[\-./ ](?:0?[1-9]|[12][0-9]|3[01])(?![0-9])"
    r"|(?:0?[1-9]|[12][0-9]|3[01])[\-./](?:0?[1-9]|1[0-2])[\-./](?:19|20)[0-9]{2}(?![0-9])"
)
_DOTTED_THOUSANDS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")


# --- checks on candidates ----------------------------------------------------------------------


def _luhn(digits: str) -> bool:
    """The Luhn checksum every payment card number carries in its last digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card_number(digits: str) -> bool:
    """A 13-19 digit number in a card network's issuer range, with a valid Luhn check digit."""
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    for low, high, lengths in _CARD_RANGES:
        if len(digits) in lengths and low <= digits[: len(low)] <= high:
            return _luhn(digits)
    return False


def _is_iban(compact: str) -> bool:
    """Country length and ISO 7064 mod-97 check digits of an IBAN without spaces."""
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _is_phone(text: str) -> bool:
    """9-15 digits, and not a shape that only looks like a phone number (date, amount, SSN)."""
    digits = sum(map(str.isdigit, text))
    if not 9 <= digits <= 15:
        return False
    if text.startswith("+"):
        return True
    return not (
        _SSN_SHAPE.fullmatch(text) or _DATE_START.match(text) or _DOTTED_THOUSANDS.fullmatch(text)
    )


def _is_ipv6(text: str) -> bool:
    if not any(ch not in ":." for ch in text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


# --- finding spans in one text -------------------------------------------------------------------


def _find_regex(
    pattern: re.Pattern[str], valid: Callable[[str], bool] | None
) -> Callable[[str], list[_Span]]:
    def find(text: str) -> list[_Span]:
        return [m.span() for m in pattern.finditer(text) if valid is None or valid(m.group())]

    return find


def _find_card(text: str) -> list[_Span]:
    """Card numbers inside runs of digit groups: the whole run, or consecutive groups of it.

    Groups of a written card number, but the last, have at least three digits, and one kind
    of separator ("4111 1111 1111 1111", "3782-822463-10005", "3600 0000 0000 08"), so
    "order 1234 4111 1111 1111 1111" still finds the card after the order number.
    """
    spans: list[_Span] = []
    for run in _CARD_RUN.finditer(text):
        if run.end() < len(text) and (text[run.end()].isalnum() or text[run.end()] == "_"):
            continue
        groups = [
            (m.start() + run.start(), m.end() + run.start())
            for m in re.finditer(r"[0-9]+", run.group())
        ]
        i = 0
        while i < len(groups):
            found = None
            for j in range(min(len(groups), i + 5), i, -1):
                window = groups[i:j]
                digits = "".join(text[a:b] for a, b in window)
                if len(window) > 1:
                    seps = {text[b] for _, b in window[:-1]}
                    if len(seps) > 1 or any(b - a < 3 for a, b in window[:-1]):
                        continue
                if _is_card_number(digits):
                    found = j
                    break
            if found is None:
                i += 1
            else:
                spans.append((groups[i][0], groups[found - 1][1]))
                i = found
    return spans


def _find_iban(text: str) -> list[_Span]:
    """IBANs, cut to their country's length (the pattern may run on into following text)."""
    spans: list[_Span] = []
    for m in _IBAN[1].finditer(text):
        length = _IBAN_LENGTHS.get(m.group()[:2])
        if length is None:
            continue
        end, count = m.start(), 0
        while end < m.end() and count < length:
            count += text[end] != " "
            end += 1
        if count != length or (end < len(text) and text[end].isalnum()):
            continue
        if _is_iban(text[m.start() : end].replace(" ", "")):
            spans.append((m.start(), end))
    return spans


@dataclass(frozen=True)
class _Detector:
    """How one kind is found: a vectorised prefilter, and the exact search in one text.

    `exact` says the prefilter alone decides whether a value holds the kind; `yields_to` lists
    the kinds whose readings win where they overlap with this one.
    """

    prefilter: str
    find: Callable[[str], list[_Span]]
    exact: bool
    yields_to: tuple[str, ...] = ()


_DETECTORS: dict[str, _Detector] = {
    "email": _Detector(_EMAIL[0], _find_regex(_EMAIL[1], None), exact=True),
    "iban": _Detector(_IBAN[0], _find_iban, exact=False, yields_to=("email",)),
    "card": _Detector(_CARD_PREFILTER, _find_card, exact=False, yields_to=("email", "iban")),
    "ssn": _Detector(_SSN[0], _find_regex(_SSN[1], None), exact=True),
    "ipv4": _Detector(_IPV4[0], _find_regex(_IPV4[1], None), exact=True),
    "ipv6": _Detector(_IPV6[0], _find_regex(_IPV6[1], _is_ipv6), exact=False),
    "phone": _Detector(
        _PHONE[0],
        _find_regex(_PHONE[1], _is_phone),
        exact=False,
        yields_to=("email", "iban", "card", "ssn", "ipv4", "ipv6"),
    ),
}


def _needed(kinds: Sequence[str]) -> list[str]:
    """`kinds` and the kinds they yield to, in priority order."""
    need = set(kinds).union(*(_DETECTORS[k].yields_to for k in kinds))
    return [k for k in _PRIORITY if k in need]


def _spans(text: str, kind: str, possible: Collection[str] = VALUE_KINDS) -> list[_Span]:
    """Where `kind` occurs in `text`, leaving out what a more specific kind claims.

    `possible` only saves work: the kinds whose prefilter matched `text` (no other can occur).
    """
    if kind not in possible:
        return []
    detector = _DETECTORS[kind]
    spans = detector.find(text)
    others = [k for k in detector.yields_to if k in possible]
    if spans and others:
        taken = [s for other in others for s in _spans(text, other, possible)]
        spans = [(a, b) for a, b in spans if not any(a < d and c < b for c, d in taken)]
    return spans


# --- arrays ---------------------------------------------------------------------------------


def _check_kind(kind: str | None, where: str, kinds: Sequence[str] = VALUE_KINDS) -> None:
    if kind is not None and kind not in kinds:
        allowed = ", ".join(repr(k) for k in kinds)
        raise ConfigError(
            f"The 'kind' parameter of {where} must be one of {allowed}. Got {kind!r} instead."
        )


def _text_array(values: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Values as an Arrow string array, nulls kept; non-string values are read as text."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        arr = values
    else:
        try:
            arr = pa.array(values, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            arr = pa.array([None if pd.isna(v) else str(v) for v in values], type=pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr
    if pa.types.is_null(arr.type):
        return pa.array([None] * len(arr), type=pa.string())
    try:
        return pc.cast(arr, pa.string())
    except pa.ArrowException:
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())


def _prefilter(arr: pa.Array, kinds: Sequence[str]) -> np.ndarray:
    """One row per value, one column per kind: may the value hold it (RE2, a superset)."""
    columns = [
        pc.match_substring_regex(arr, _DETECTORS[k].prefilter).fill_null(False) for k in kinds
    ]
    if not columns:
        return np.zeros((len(arr), 0), dtype=bool)
    return np.column_stack([c.to_numpy(zero_copy_only=False) for c in columns])


def _detect_text(arr: pa.Array, kinds: Sequence[str]) -> dict[str, np.ndarray]:
    """For each kind, which values of a string array hold it."""
    need = _needed(kinds)
    maybe = _prefilter(arr, need)
    out: dict[str, np.ndarray] = {}
    for kind in kinds:
        column = maybe[:, need.index(kind)]
        if _DETECTORS[kind].exact:
            out[kind] = column.copy()
            continue
        hits = np.zeros(len(arr), dtype=bool)
        positions = np.flatnonzero(column)
        texts = arr.take(pa.array(positions, type=pa.int64())).to_pylist()
        for pos, text in zip(positions, texts, strict=True):
            possible = [k for k, m in zip(need, maybe[pos], strict=True) if m]
            hits[pos] = bool(_spans(text, kind, possible))
        out[kind] = hits
    return out


def _detect_integers(arr: pa.Array) -> np.ndarray:
    """Card numbers stored as integers: 13-19 digits with a card issuer prefix and Luhn."""
    values = np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False))
    if values.dtype.kind == "u":
        big = values >= 10**12
    else:
        big = np.abs(values.astype(np.float64)) >= 1e12
    out = np.zeros(len(values), dtype=bool)
    for pos in np.flatnonzero(big):
        out[pos] = _is_card_number(str(abs(int(values[pos]))))
    if arr.null_count:
        out &= arr.is_valid().to_numpy(zero_copy_only=False)
    return out


def detect(values: pd.Series | pa.Array | pa.ChunkedArray, kind: str) -> np.ndarray:
    """Which values hold personal data of `kind`: one boolean per value, False for nulls.

    String values are searched for the kind anywhere in the text (free text counts). Integer
    values are checked for card numbers only (13-19 digits, issuer prefix, Luhn); other kinds
    are never integers, and other types hold none.
    """
    _check_kind(kind, "detect")
    if isinstance(values, pd.Series):
        dtype = values.dtype
        if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            arr = pa.array(values, from_pandas=True)
        elif pd.api.types.is_float_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            return np.zeros(len(values), dtype=bool)
        else:
            arr = _text_array(values)
    else:
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_integer(arr.type):
        return _detect_integers(arr) if kind == "card" else np.zeros(len(arr), dtype=bool)
    if not _is_text_type(arr.type):
        return np.zeros(len(arr), dtype=bool)
    return _detect_text(_text_array(arr), [kind])[kind]


def _is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


# --- column names ---------------------------------------------------------------------------


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words that identify a person wherever they appear in a column name.
_NAME_TOKENS = _wordset(
    "email emails surname surnames forename firstname lastname fullname middlename maidenname "
    "username ssn passport phone phones telephone cellphone dob birthdate birthday street iban "
    "address addresses"
)
# Words that do so only as the whole column name.
_NAME_WHOLE = _wordset("name names mobile cell tel fax ip sin nin tin")
# Consecutive words that do.
_NAME_PHRASES = tuple(
    tuple(phrase.split("_"))
    for phrase in _wordset(
        "first_name last_name full_name given_name family_name middle_name maiden_name user_name "
        "e_mail date_of_birth birth_date social_security national_id national_insurance tax_id "
        "driver_license drivers_license driving_licence card_number credit_card account_number "
        "bank_account mobile_number mobile_phone cell_number ip_addr"
    )
)
# "<who> name": the name of a person, unlike "product name" or "file name".
_PERSON_WORDS = _wordset(
    "customer client patient user person contact employee member holder owner applicant "
    "cardholder account beneficiary sender recipient buyer seller nick"
)
# Words that make a column about personal data without holding it ("has_email",
# "email_domain", "phone_hash").
_NOT_RAW = _wordset(
    "has is n num count len length type domain verified valid flag hash hashed masked "
    "redacted country city state region format provider opt consent"
)


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Za-z])([0-9])", r"\1 \2", spaced)
    return [w for w in re.split(r"[^0-9a-z]+", spaced.lower()) if w]


def is_name_like(column: str) -> bool:
    """Whether a column's name says it holds a direct identifier of a person.

    `first_name`, `LastName`, `email_address`, `phone`, `ssn`, `date_of_birth`,
    `customer_name` are; `product_name`, `has_email`, `email_domain`, `phone_hash` are not.
    """
    words = _words(str(column))
    if not words or _NOT_RAW.intersection(words):
        return False
    if "_".join(words) in _NAME_WHOLE or _NAME_TOKENS.intersection(words):
        return True
    if len(words) >= 2 and words[-1] in ("name", "names") and words[-2] in _PERSON_WORDS:
        return True
    return any(
        tuple(words[i : i + len(phrase)]) == phrase
        for phrase in _NAME_PHRASES
        for i in range(len(words) - len(phrase) + 1)
    )
