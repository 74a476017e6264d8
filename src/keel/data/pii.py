"""Personal data (practice data.5): finding it in columns and values, and handling it.

Detection runs in two steps so that large data stays fast. A vectorised regular expression
(Arrow's RE2, `pyarrow.compute.match_substring_regex`) picks the values that may hold a kind
of personal data; for the kinds whose shape alone does not decide (a card number needs the
Luhn check and a known issuer range, an IBAN its mod-97 check digits, an IPv6 address a real
parse, a phone number its digit count and context), Python then looks at those candidates
only. The same patterns find the substrings that `redact` replaces, so what `scan` reports and
what `redact` removes cannot drift apart.

Kinds of values: e-mail addresses, phone numbers, payment card numbers, US social security
numbers, IBANs, IPv4 and IPv6 addresses. A column whose *name* says it holds a direct
identifier (`first_name`, `email`, `date_of_birth`, ...) is reported as `name_like_column`.

Where one piece of text could be read as two kinds, the more specific kind wins, in this order:
e-mail, IBAN, card, SSN, IPv4, IPv6, phone (`123-45-6789` is an SSN, not a phone number;
`192.168.100.200` an IPv4 address).

Handling, declared per PII column: `none` (kept as it is), `drop` (the column is removed),
`hash` (keyed HMAC-SHA256, so values still join but cannot be read back or guessed by hashing
candidates without the key), `redact` (each detected substring becomes `[REDACTED:<kind>]`).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from keel.errors import ConfigError

__all__ = [
    "HANDLINGS",
    "KINDS",
    "MIN_KEY_BYTES",
    "ROW_COLUMNS",
    "VALUE_KINDS",
    "PiiFinding",
    "apply_handling",
    "detect",
    "hash_values",
    "is_name_like",
    "mask",
    "redact",
    "scan",
    "to_rows",
]

VALUE_KINDS = ("email", "phone", "card", "ssn", "iban", "ipv4", "ipv6")
KINDS = (*VALUE_KINDS, "name_like_column")
HANDLINGS = ("none", "drop", "hash", "redact")
ROW_COLUMNS = ["column", "kind", "share", "matches", "example"]
MIN_KEY_BYTES = 16
_MAX_PASSES = 5  # redaction passes; one is enough unless a replacement uncovers a new reading

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


# --- masking -------------------------------------------------------------------------------------


def _hide(value: str, keep: Callable[[int, str], bool]) -> str:
    return "".join(ch if keep(i, ch) else "*" for i, ch in enumerate(value))


def _generic_mask(value: str) -> str:
    return value[:1] + "*" * (len(value) - 1) if len(value) > 1 else "*" * len(value)


def _keep_last_digits(value: str, n: int, *, keep_prefix: int = 0) -> str:
    """Hide every digit but the last `n` (and the first `keep_prefix` characters)."""
    digit_positions = [i for i, ch in enumerate(value) if ch.isdigit()]
    shown = set(digit_positions[-n:]) if n else set()
    return _hide(value, lambda i, ch: i < keep_prefix or not ch.isdigit() or i in shown)


def mask(value: str, kind: str) -> str:
    """A masked form of a personal value that keeps just enough to recognise it in a report.

    e-mail "john.doe@example.com" -> "j***@e******.com"; phone "+1-415-555-4421" ->
    "+1-***-***-4421"; card "4111 1111 1111 1111" -> "**** **** **** 1111"; SSN ->
    "***-**-6789"; IBAN -> country code and last four; IPv4 -> first octet; IPv6 -> first
    group; anything else -> first character. A value of two or more characters that holds no
    "*" is never returned unchanged; an already masked value may be.
    """
    _check_kind(kind, "mask", KINDS)
    value = str(value)
    masked = _mask(value, kind)
    return masked if masked != value else _generic_mask(value)


def _mask(value: str, kind: str) -> str:
    if kind == "email" and value.count("@") == 1:
        local, domain = value.split("@")
        host, dot, tld = domain.rpartition(".")
        if local and host:
            return f"{local[0]}***@{_generic_mask(host)}{dot}{tld}"
        return _generic_mask(value)
    if kind == "phone":
        prefix = re.match(r"\+[0-9]{1,3}(?=[ .\-(])", value)  # the country code, if set apart
        return _keep_last_digits(value, 4, keep_prefix=prefix.end() if prefix else 0)
    if kind in ("card", "ssn"):
        return _keep_last_digits(value, 4)
    if kind == "iban":
        alnum = [i for i, ch in enumerate(value) if ch.isalnum()]
        shown = set(alnum[:2] + alnum[-4:])
        return _hide(value, lambda i, ch: i in shown or not ch.isalnum())
    if kind in ("ipv4", "ipv6"):
        sep = "." if kind == "ipv4" else ":"
        head, _, tail = value.partition(sep)
        return head + sep + re.sub(r"[0-9A-Fa-f]+", "*", tail) if tail else _generic_mask(value)
    return _generic_mask(value)


# --- scanning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PiiFinding:
    """One kind of personal data found in one column of a sample.

    `share` is the fraction of the sampled non-null values that hold it, `matches` their
    number, `example` one occurrence, masked.
    """

    column: str
    kind: str
    share: float
    matches: int
    example: str


def _check_scan_options(sample: int, min_share: float) -> None:
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ConfigError(
            f"The 'sample' parameter of scan must be an int >= 1. Got {sample!r} instead."
        )
    if (
        isinstance(min_share, bool)
        or not isinstance(min_share, int | float)
        or not (0.0 <= min_share <= 1.0)
    ):
        raise ConfigError(
            f"The 'min_share' parameter of scan must be a float in [0, 1]. Got {min_share!r} "
            "instead."
        )


def _columns(data: pd.DataFrame | pa.Table) -> list[tuple[str, pd.Series | pa.ChunkedArray]]:
    if isinstance(data, pd.DataFrame):
        return [(str(name), data.iloc[:, i]) for i, name in enumerate(data.columns)]
    if isinstance(data, pa.Table):
        return [(name, data.column(i)) for i, name in enumerate(data.column_names)]
    raise TypeError(
        f"scan expects a pandas DataFrame or a pyarrow Table. Got {type(data).__name__} instead."
    )


def _sample(column: pd.Series | pa.ChunkedArray, size: int, rng: np.random.Generator) -> pa.Array:
    """Up to `size` non-null values of a column, drawn without replacement, in column order."""
    if isinstance(column, pd.Series):
        valid = column.notna().to_numpy()
    else:
        valid = column.is_valid().to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(valid)
    if len(positions) > size:
        positions = np.sort(rng.choice(positions, size=size, replace=False))
    if isinstance(column, pd.Series):
        picked = column.iloc[positions]
        dtype = picked.dtype
        if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            return pa.array(picked, from_pandas=True)
        if pd.api.types.is_float_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            return pa.array(picked.to_numpy())
        return _text_array(picked)
    return column.take(pa.array(positions, type=pa.int64())).combine_chunks()


def _example(arr: pa.Array, hits: np.ndarray, kind: str) -> str:
    """The first occurrence of `kind` among the hits, masked."""
    value = arr[int(np.flatnonzero(hits)[0])].as_py()
    if not isinstance(value, str):  # a card number stored as an integer
        return mask(str(abs(value)), kind)
    spans = _spans(value, kind)
    a, b = spans[0] if spans else (0, len(value))
    return mask(value[a:b], kind)


def scan(
    data: pd.DataFrame | pa.Table,
    *,
    sample: int = 10_000,
    min_share: float = 0.05,
    seed: int = 0,
) -> list[PiiFinding]:
    """Find the columns that hold personal data, from a seeded sample of each column.

    Up to `sample` non-null values per column are drawn (the same ones for the same `seed`), so
    the time does not grow with the number of rows. A column is reported for a kind when at
    least `min_share` of its sampled values hold it, and for `name_like_column` when its name
    says it holds a direct identifier and it has values. Findings are sorted by column, then by
    share (highest first).
    """
    _check_scan_options(sample, min_share)
    findings: list[PiiFinding] = []
    for index, (name, column) in enumerate(_columns(data)):
        rng = np.random.default_rng([seed, index])
        arr = _sample(column, sample, rng)
        n = len(arr)
        if n and is_name_like(name):
            first = arr[0].as_py()
            findings.append(PiiFinding(name, "name_like_column", 1.0, n, mask(first, KINDS[-1])))
        if not n:
            continue
        if pa.types.is_integer(arr.type):
            detected = {"card": _detect_integers(arr)}
        elif _is_text_type(arr.type):
            arr = _text_array(arr)
            detected = _detect_text(arr, VALUE_KINDS)
        else:
            continue
        for kind, hits in detected.items():
            matches = int(hits.sum())
            if matches and matches / n >= min_share:
                example = _example(arr, hits, kind)
                findings.append(PiiFinding(name, kind, matches / n, matches, example))
    findings.sort(key=lambda f: (f.column, -f.share, KINDS.index(f.kind)))
    return findings


def to_rows(findings: Sequence[PiiFinding]) -> list[list[str | float | int]]:
    """Findings as rows for an evidence table with the columns `ROW_COLUMNS`."""
    return [[f.column, f.kind, round(f.share, 4), f.matches, f.example] for f in findings]


# --- handling ------------------------------------------------------------------------------------


def _with_values(series: pd.Series, positions: np.ndarray, new: Sequence[str]) -> pd.Series:
    """`series` with the values at `positions` replaced; index, name and nulls kept."""
    out = series.to_numpy(dtype=object, copy=True)
    if len(positions):
        out[positions] = np.asarray(new, dtype=object)
    result = pd.Series(out, index=series.index, name=series.name, dtype=object)
    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(
        series.dtype
    ):
        result = result.astype(series.dtype)
    return result


def _redact_text(text: str, kinds: Sequence[str], possible: Collection[str]) -> str:
    """One pass: each occurrence of `kinds` replaced, the more specific kind first."""
    found: list[tuple[int, int, str]] = []
    for kind in (k for k in _PRIORITY if k in kinds and k in possible):
        for a, b in _spans(text, kind, possible):
            if not any(a < d and c < b for c, d, _ in found):
                found.append((a, b, kind))
    for a, b, kind in sorted(found, reverse=True):
        text = f"{text[:a]}[REDACTED:{kind}]{text[b:]}"
    return text


def redact(values: pd.Series, kind: str | None = None) -> pd.Series:
    """Replace every detected piece of personal data with `[REDACTED:<kind>]`.

    With `kind`, only that kind is replaced; without, every kind. The text around it is kept
    ("mail j@x.org today" -> "mail [REDACTED:email] today"). Non-string values are read as
    text; nulls stay null. RE2 picks the candidate values; only those are visited in Python,
    and a text seen before is not worked out again. Redacted values are searched again until
    nothing is found, so no reading that a replacement uncovers is left behind.
    """
    _check_kind(kind, "redact")
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    kinds = VALUE_KINDS if kind is None else (kind,)
    need = _needed(kinds)
    wanted = np.array([k in kinds for k in need])
    arr, rows = _text_array(series), np.arange(len(series))
    done: dict[int, str] = {}
    cache: dict[str, str] = {}
    for _ in range(_MAX_PASSES):
        if not len(arr):
            break
        maybe = _prefilter(arr, need)
        todo = np.flatnonzero(maybe[:, wanted].any(axis=1))
        texts = arr.take(pa.array(todo, type=pa.int64())).to_pylist()
        changed: list[int] = []
        redacted: list[str] = []
        for pos, text in zip(todo, texts, strict=True):
            if text not in cache:
                possible = [k for k, m in zip(need, maybe[pos], strict=True) if m]
                cache[text] = _redact_text(text, kinds, possible)
            if cache[text] != text:
                changed.append(pos)
                redacted.append(cache[text])
        rows = rows[np.asarray(changed, dtype=np.int64)]
        done.update(zip(rows.tolist(), redacted, strict=True))
        arr = pa.array(redacted, type=pa.string())
    positions = np.fromiter(done, dtype=np.int64, count=len(done))
    return _with_values(series, positions, list(done.values()))


def _resolve_key(key: bytes | str | None, env: str) -> bytes:
    if key is None:
        raw = os.environ.get(env, "")
        if not raw:
            raise ConfigError(
                f"Hashing personal data needs a secret key: set {env} to a secret of at least "
                f"{MIN_KEY_BYTES} bytes (e.g. `export {env}=$(python -c 'import secrets; "
                "print(secrets.token_hex(32))')`) and keep it out of the repository. Keel never "
                "hashes without a key: unkeyed hashes of e-mails or phone numbers are reversed "
                "by hashing every candidate."
            )
        key, source = raw.encode("utf-8"), env
    else:
        source = "the key"
    secret = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(secret) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{source} is {len(secret)} bytes long: set {env} to a secret of at least "
            f"{MIN_KEY_BYTES} bytes."
        )
    return secret


def hash_values(
    values: pd.Series, *, key: bytes | None = None, env: str = "KEEL_PII_KEY"
) -> pd.Series:
    """Keyed pseudonyms: HMAC-SHA256 of each value's text, the first 32 hex characters.

    The same value and key always give the same pseudonym (joins and counts still work); a
    different key gives different ones. The key is `key`, or else the environment variable
    `env`; without a key of at least 16 bytes this raises `ConfigError` and hashes nothing.
    Nulls stay null.
    """
    secret = _resolve_key(key, env)
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    positions = np.flatnonzero(series.notna().to_numpy())
    codes, uniques = pd.factorize(series.iloc[positions].astype(str))
    digests = np.array(
        [hmac.digest(secret, u.encode("utf-8"), "sha256").hex()[:32] for u in uniques],
        dtype=object,
    )
    return _with_values(series, positions, digests[codes] if len(codes) else [])


def apply_handling(
    series: pd.Series,
    handling: str,
    *,
    kind: str | None = None,
    key: bytes | None = None,
) -> pd.Series | None:
    """A PII column after its declared handling.

    "none" returns it unchanged, "hash" as `hash_values` (with `key`, or the environment's),
    "redact" as `redact` (of `kind`, or every kind). "drop" returns None: removing the column
    from its frame or log record is the caller's business.
    """
    if handling not in HANDLINGS:
        allowed = ", ".join(repr(h) for h in HANDLINGS)
        raise ConfigError(
            f"The 'handling' parameter of apply_handling must be one of {allowed}. "
            f"Got {handling!r} instead."
        )
    _check_kind(kind, "apply_handling")
    if handling == "drop":
        return None
    if handling == "hash":
        return hash_values(series, key=key)
    if handling == "redact":
        return redact(series, kind)
    return series
