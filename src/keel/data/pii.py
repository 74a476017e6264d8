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
import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from keel.data._pii_detect import (
    _CARD_PREFILTER,
    _PRIORITY,
    VALUE_KINDS,
    _check_kind,
    _detect_integers,
    _detect_text,
    _is_text_type,
    _needed,
    _prefilter,
    _spans,
    _text_array,
    detect,
    is_name_like,
)
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

KINDS = (*VALUE_KINDS, "name_like_column")
HANDLINGS = ("none", "drop", "hash", "redact")
ROW_COLUMNS = ["column", "kind", "share", "matches", "example"]
MIN_KEY_BYTES = 16
_MAX_PASSES = 5  # redaction passes; one is enough unless a replacement uncovers a new reading


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
    number, `example` one occurrence, masked. `confirmed` is False only for a
    `name_like_column` whose values do not look like identifiers of people (see `scan`): a
    finding to review, not a verdict.
    """

    column: str
    kind: str
    share: float
    matches: int
    example: str
    confirmed: bool = True  # False: a name-like column whose values do not bear the name out


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


def _may_hold_pii(column: pd.Series | pa.ChunkedArray) -> bool:
    """Whether a column's type can hold a kind of value scanned for: text, or integers (card
    numbers). Checked before sampling, so thousands of float columns cost nothing."""
    if isinstance(column, pd.Series):
        dtype = column.dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
            return False
        return not (
            pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)
        )
    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    return pa.types.is_integer(kind) or _is_text_type(kind) or pa.types.is_null(kind)


def scan(
    data: pd.DataFrame | pa.Table,
    *,
    sample: int = 10_000,
    min_share: float = 0.05,
    seed: int = 0,
    distinct: bool = True,
) -> list[PiiFinding]:
    """Find the columns that hold personal data, from a seeded sample of each column.

    Up to `sample` non-null values per column are drawn (the same ones for the same `seed`), so
    the time does not grow with the number of rows. Personal data in a few rows is still
    personal data, so a column is reported for a kind as soon as one sampled value holds a
    validated occurrence of it: e-mail shape, IBAN check digits, SSN ranges and IPv6 parse
    always validate; a card number needs its issuer range and Luhn digit, and a column is not
    reported for cards when its card-shaped numbers pass Luhn at about the rate random numbers
    do (an id column); phone numbers and IPv4 addresses, whose shape is weaker, need context
    below `min_share` of the values (`low_share_hits`). A column is reported as
    `name_like_column` when its name says it holds a direct identifier and it has values; the
    finding is `confirmed` only when the values bear the name out (`name_confirmed`).
    Findings are sorted by column, then by share (highest first).

    `distinct` (the default) looks at each distinct text value of a column once and counts it
    as many times as it occurs: the same findings as looking at every value (`distinct=False`,
    the reference), in a fraction of the time on text that repeats (categories, logged inputs).
    """
    _check_scan_options(sample, min_share)
    findings: list[PiiFinding] = []
    for index, (name, column) in enumerate(_columns(data)):
        if not _may_hold_pii(column) and not is_name_like(name):
            continue  # floats, dates, booleans hold no kind of value scanned for
        rng = np.random.default_rng([seed, index])
        arr = _sample(column, sample, rng)
        n = len(arr)
        if not n:
            continue
        weights = None  # how many sampled values each of `values` stands for (None: one)
        values = arr
        if pa.types.is_integer(arr.type):
            detected = {"card": _detect_integers(arr)}
        elif _is_text_type(arr.type):
            arr = values = _text_array(arr)
            if distinct:
                values, weights = _distinct(arr)
            detected = _detect_text(values, VALUE_KINDS)
        else:
            detected = {}
        found_here = []
        for kind, hits in detected.items():
            if hits.any() and kind == "card" and _random_luhn(values, hits, weights):
                continue
            if hits.any() and _count(hits, weights) / n < min_share:
                hits = low_share_hits(values, hits, kind, name)
            matches = _count(hits, weights)
            if matches:
                example = _example(values, hits, kind)
                found_here.append(PiiFinding(name, kind, matches / n, matches, example))
        if is_name_like(name):
            first = arr[0].as_py()
            confirmed = bool(found_here) or name_confirmed(arr)
            findings.append(
                PiiFinding(name, "name_like_column", 1.0, n, mask(first, KINDS[-1]), confirmed)
            )
        findings.extend(found_here)
    findings.sort(key=lambda f: (f.column, -f.share, KINDS.index(f.kind)))
    return findings


# Card-shaped numbers pass the Luhn check one time in ten by chance: a column where at most
# this share of them pass holds ids, not cards (real card numbers all pass).
_RANDOM_LUHN_SHARE = 0.25
_MIN_CARD_CANDIDATES = 20


def _distinct(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The distinct values of a text array in the order they first occur, and how many times
    each occurs: the first hit among them is the first hit among the values."""
    counted = pc.value_counts(arr)
    return counted.field("values"), counted.field("counts").to_numpy().astype(np.int64)


def _count(hits: np.ndarray, weights: np.ndarray | None) -> int:
    """The values that hit, each distinct value counted as often as it occurs."""
    return int(hits.sum()) if weights is None else int(weights[hits].sum())


def _random_luhn(arr: pa.Array, hits: np.ndarray, weights: np.ndarray | None = None) -> bool:
    """Whether a column's card hits are what chance gives among many card-shaped numbers
    (`weights`: how many values each of `arr` stands for)."""
    if pa.types.is_integer(arr.type):
        values = np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False))
        numbers = np.abs(values.astype(np.float64))
        shaped = (numbers >= 1e12) & (numbers < 1e19)
    else:
        match = pc.match_substring_regex(arr, _CARD_PREFILTER).fill_null(False)
        shaped = match.to_numpy(zero_copy_only=False)
    candidates = _count(shaped, weights)
    return candidates >= _MIN_CARD_CANDIDATES and _count(hits, weights) <= (
        _RANDOM_LUHN_SHARE * candidates
    )


# Words near a number that say it is a phone number, or that a dotted quad is an address.
_PHONE_CONTEXT = re.compile(
    r"(?i)(?:phone|tel|call|mobile|cell|fax|whatsapp|contact|sms|text me|ring|reach)"
    r"[^0-9]{0,20}$"
)
_PHONE_STRONG = re.compile(r"\+[0-9]|\([0-9]{1,5}\)|[0-9]{3}([ .\-])[0-9]{3}\1[0-9]{4}$")
_VERSION_CONTEXT = re.compile(r"(?i)(?:v|ver|version|release|build|firmware|rev)[ .:=]*$")


def _occurrence_ok(text: str, kind: str, span: tuple[int, int], name_hint: bool) -> bool:
    """Whether one weakly shaped occurrence stands as personal data in its context."""
    a, b = span
    before = text[max(0, a - 30) : a]
    if kind == "phone":
        return (
            name_hint or bool(_PHONE_STRONG.match(text[a:b])) or bool(_PHONE_CONTEXT.search(before))
        )
    if kind == "ipv4":
        return not _VERSION_CONTEXT.search(before)
    return True


def low_share_hits(arr: pa.Array, hits: np.ndarray, kind: str, column: str) -> np.ndarray:
    """The hits of a kind found in few values that stand without the support of numbers.

    Validated kinds (e-mail, IBAN, SSN, card, IPv6) stand as they are. A phone number stands
    when it is written in a strong form (a "+" country code, an area code in parentheses, or
    3-3-4 digits), when a word before it says so ("call", "tel", "mobile" ...) or when the
    column's name says the column holds personal data; an IPv4 address stands unless a word
    before it makes it a version number ("version 1.2.3.4").
    """
    if kind not in ("phone", "ipv4") or not _is_text_type(arr.type):
        return hits
    name_hint = is_name_like(column)
    kept = np.zeros(len(hits), dtype=bool)
    positions = np.flatnonzero(hits)
    texts = arr.take(pa.array(positions, type=pa.int64())).to_pylist()
    for pos, text in zip(positions, texts, strict=True):
        kept[pos] = any(_occurrence_ok(text, kind, span, name_hint) for span in _spans(text, kind))
    return kept


# A name-like column is borne out by its values when they vary like identifiers of people:
# text or integers with at least this many distinct values in the sample (or half the sample,
# when it is smaller). A yes/no column named "owns_phone" is not.
_MIN_IDENTIFIER_VALUES = 50


def name_confirmed(arr: pa.Array) -> bool:
    """Whether a column's sampled values look like direct identifiers (see the constant)."""
    kind = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    if not (_is_text_type(kind) or pa.types.is_integer(kind) or pa.types.is_temporal(kind)):
        return False
    distinct = pc.count_distinct(arr).as_py()
    return distinct >= min(_MIN_IDENTIFIER_VALUES, len(arr) / 2) and distinct > 2


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
