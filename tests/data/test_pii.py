"""Finding and handling personal data (data.5): detectors, scan, masking, redaction, hashing."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.data import _pii_detect as pii_detect
from keel.data import pii
from keel.errors import ConfigError

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def found(value: str, kind: str) -> bool:
    return bool(pii.detect(pd.Series([value], dtype=object), kind)[0])


def kinds_of(value: str) -> set[str]:
    return {kind for kind in pii.VALUE_KINDS if found(value, kind)}


def luhn_complete(body: str) -> str:
    """`body` with the check digit that makes it pass the Luhn check."""
    for check in "0123456789":
        digits = body + check
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def test_public_names_of_the_module_are_exactly_the_documented_ones():
    assert sorted(pii.__all__) == sorted(
        [
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
    )
    assert (*pii.VALUE_KINDS, "name_like_column") == pii.KINDS
    assert pii.HANDLINGS == ("none", "drop", "hash", "redact")


# --- detectors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "john.doe@example.com",
        "J.Doe+news@mail.example.co.uk",
        "write to anna_k@firma.de.",
        "<bob@example.org>",
    ],
)
def test_email_addresses_are_found_in_values_and_free_text(value):
    assert kinds_of(value) == {"email"}


@pytest.mark.parametrize("value", ["x@y", "a@b.c", "no at sign", "@example.com", "user@localhost"])
def test_text_without_a_full_email_address_is_not_an_email(value):
    assert not found(value, "email")


@pytest.mark.parametrize(
    "value",
    [
        "+1-415-555-2671",
        "+44 20 7946 0958",
        "+14155552671",
        "+49 (0)30 1234567",
        "(415) 555-2671",
        "415.555.2671",
        "06 12 34 56 78",
        "call me on 020 7946 0958 after six",
        "tel:+33 6 12 34 56 78",
    ],
)
def test_international_and_national_phone_formats_are_phones(value):
    assert found(value, "phone")


@pytest.mark.parametrize(
    "value",
    [
        "4155552671",  # an id shaped like a phone number, without separators
        "100234567890",
        "20240115103000",
        "1700000000000",
        "2024-01-15 10:30:00",
        "2024-01-15T10:30:00Z",
        "15.01.2024 10:30",
        "ORD-2024-001234",
        "INV/2024/000123",
        "1,234,567.89",
        "$12,345.67",
        "12.345.678,90",
        "1.234.567.890",
        "-123456789.50",
        "12345",
    ],
)
def test_timestamps_order_ids_amounts_and_ids_without_separators_are_not_phones(value):
    assert not found(value, "phone")


def test_an_ssn_and_an_ip_address_are_not_also_read_as_phone_numbers():
    assert kinds_of("123-45-6789") == {"ssn"}
    assert kinds_of("192.168.100.200") == {"ipv4"}


@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1111",
        "4111111111111111",
        "5500-0000-0000-0004",
        "378282246310005",
        "3782 822463 10005",
        "6011 1111 1111 1117",
        "paid with 4111-1111-1111-1111, thanks",
        "order 1234 4111 1111 1111 1111",
    ],
)
def test_luhn_valid_card_numbers_with_or_without_separators_are_cards(value):
    assert found(value, "card")


@pytest.mark.parametrize(
    "value",
    [
        "4111111111111112",  # 16 digits failing the Luhn check
        "4111 1111 1111 1112",
        luhn_complete("123456789012345"),  # Luhn-valid, but no card network issues it
        "41111111111111111111",  # too long: an id, not a card
        "4111111111111111abc",
        "3.1415926535897932",
    ],
)
def test_numbers_failing_luhn_or_outside_card_ranges_are_not_cards(value):
    assert not found(value, "card")


def test_card_numbers_stored_as_integers_are_found_and_other_integers_are_not():
    values = pd.Series([4111111111111111, 4111111111111112, 1_700_000_000_000, 42, 378282246310005])
    assert pii.detect(values, "card").tolist() == [True, False, False, False, True]
    assert not pii.detect(values, "email").any()


@pytest.mark.parametrize("value", ["123-45-6789", "SSN: 078-05-1120", "899-99-9999"])
def test_valid_social_security_numbers_are_found(value):
    assert found(value, "ssn")


@pytest.mark.parametrize(
    "value",
    [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "123-00-6789",
        "123-45-0000",
        "123456789",
        "1123-45-6789",
        "123-45-67890",
    ],
)
def test_social_security_numbers_in_invalid_ranges_or_shapes_are_not_ssns(value):
    assert not found(value, "ssn")


@pytest.mark.parametrize(
    "value",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "NO93 8601 1117 947",
        "pay to FR14 2004 1010 0505 0001 3M02 606 by Friday",
    ],
)
def test_ibans_with_correct_check_digits_are_found(value):
    assert found(value, "iban")


@pytest.mark.parametrize(
    "value",
    [
        "DE88 3704 0044 0532 0130 00",  # wrong check digits
        "DE89 3704 0044 0532 0130 0",  # one character short for Germany
        "XX89370400440532013000",  # no such country
        "DE89370400440532013000X",
    ],
)
def test_ibans_with_a_wrong_check_digit_length_or_country_are_not_ibans(value):
    assert not found(value, "iban")


@pytest.mark.parametrize("value", ["192.168.1.1", "at 8.8.8.8:53", "255.255.255.0", "10.0.0.1."])
def test_ipv4_addresses_are_found(value):
    assert found(value, "ipv4")


@pytest.mark.parametrize("value", ["999.1.1.1", "10.0.0.256", "1.2.3", "01.2.3.4", "1.2.3.4.5"])
def test_octets_above_255_and_other_dotted_numbers_are_not_ipv4(value):
    assert not found(value, "ipv4")


@pytest.mark.parametrize(
    "value",
    ["2001:db8::1", "fe80::1%eth0", "::1", "::ffff:192.0.2.1", "2001:0db8:85a3:0:0:8a2e:370:7334"],
)
def test_ipv6_addresses_are_found(value):
    assert found(value, "ipv6")


@pytest.mark.parametrize(
    "value", ["10:30:00", "std::cout", "12:34:56:78:90:ab", "a :: b", "1:2:3:4:5:6:7:8:9"]
)
def test_times_mac_addresses_and_code_are_not_ipv6(value):
    assert not found(value, "ipv6")


def test_detect_keeps_nulls_false_and_accepts_arrow_arrays():
    array = pa.chunked_array([["a@b.org", None], ["none here"]])
    assert pii.detect(array, "email").tolist() == [True, False, False]
    assert pii.detect(pd.Series(["a@b.org", None, np.nan], dtype=object), "email").tolist() == [
        True,
        False,
        False,
    ]


def test_detect_refuses_an_unknown_kind_with_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"The 'kind' parameter of detect must be one of"):
        pii.detect(pd.Series(["x"]), "passport")


CARD_PREFIXES = ["4", "51", "55", "2221", "2720", "34", "37", "6011", "65", "3528", "62", "36"]
CARD_LENGTHS = {"4": 16, "34": 15, "37": 15, "36": 14}


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(CARD_PREFIXES))
    length = CARD_LENGTHS.get(prefix, 16)
    body = draw(st.text("0123456789", min_size=length - 1 - len(prefix), max_size=length - 1))
    digits = luhn_complete((prefix + body)[: length - 1])
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4)) if sep else digits


@FAST
@given(card_numbers(), st.sampled_from(["{}", "card {} exp 12/29", "{}, thanks"]))
def test_luhn_valid_generated_card_numbers_are_always_detected(number, template):
    assert found(template.format(number), "card")


PII_VALUES = [
    "+1-415-555-2671",
    "john@example.com",
    "4111 1111 1111 1111",
    "123-45-6789",
    "DE89 3704 0044 0532 0130 00",
    "10.0.0.1",
    "2001:db8::1",
]
PADDING = st.text(" .-:", max_size=2)
# Noise built from the characters the patterns care about, or a PII value between separators.
TEXT = st.text("0123456789 .-+:@()abcdefxyzDEFGHIJ_/,", max_size=40) | st.builds(
    lambda before, value, after: before + value + after,
    PADDING,
    st.sampled_from(PII_VALUES),
    PADDING,
)


@FAST
@given(TEXT, st.sampled_from(pii.VALUE_KINDS))
def test_detect_is_true_exactly_when_redact_changes_the_value(text, kind):
    # detect uses the vectorised RE2 patterns, redact the per-value search: they must agree
    redacted = pii.redact(pd.Series([text], dtype=object), kind)[0]
    assert found(text, kind) == (redacted != text)


# --- scan -------------------------------------------------------------------------------------


def mixed_frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    emails = [f"user{i}@example.com" for i in range(rows)]
    phones = [f"+1-415-555-{1000 + i:04d}" if i % 2 == 0 else "n/a" for i in range(rows)]
    return pd.DataFrame(
        {
            "contact": [None if i % 5 == 0 else e for i, e in enumerate(emails)],
            "callback": phones,
            "city": rng.choice(["Berlin", "Paris", "Rome"], rows),
            "amount": rng.normal(100, 10, rows).round(2),
            "order_id": [f"ORD-2024-{i:06d}" for i in range(rows)],
            "account_id": rng.integers(10**9, 10**10, rows),
            "created": pd.date_range("2024-01-01", periods=rows, freq="h").astype(str),
        }
    )


def test_scan_finds_the_email_and_phone_columns_with_their_share_and_a_masked_example():
    frame = mixed_frame()
    findings = pii.scan(frame)
    assert [(f.column, f.kind) for f in findings] == [("callback", "phone"), ("contact", "email")]
    phone, email = findings
    assert (phone.share, phone.matches) == (0.5, 100)
    assert (email.share, email.matches) == (1.0, 160)  # share of the non-null values
    assert email.example == "u***@e******.com"
    assert re.fullmatch(r"\+1-\*\*\*-\*\*\*-\d{4}", phone.example)
    for finding, column in ((phone, "callback"), (email, "contact")):
        assert not any(str(v) in finding.example for v in frame[column].dropna() if v != "n/a")


def test_scan_reads_a_pyarrow_table_like_the_frame():
    frame = mixed_frame()
    assert pii.scan(pa.Table.from_pandas(frame, preserve_index=False)) == pii.scan(frame)


def test_scan_reports_a_validated_kind_found_in_a_single_value():
    frame = pd.DataFrame({"note": ["write to a@b.org"] + ["nothing"] * 99})
    [finding] = pii.scan(frame)
    assert (finding.kind, finding.share, finding.matches) == ("email", 0.01, 1)


def free_text(n: int, special: dict[int, str]) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    words = ["late", "payment", "agreed", "customer", "asked", "about", "terms", "fee"]
    notes = [" ".join(rng.choice(words, 6)) for _ in range(n)]
    for i, text in special.items():
        notes[i] = f"{notes[i]} {text}"
    return pd.DataFrame({"note": notes})


def test_scan_finds_e_mails_and_phone_numbers_in_4_percent_of_a_free_text_column():
    emails = {i: f"mail j.doe{i}@example.com" for i in range(0, 1000, 50)}
    phones = {i: f"call me on +44 20 7946 {i:04d}" for i in range(7, 1000, 50)}
    findings = pii.scan(free_text(1000, emails | phones))
    assert {(f.kind, f.matches) for f in findings} == {("email", 20), ("phone", 20)}
    assert all(f.share == 0.02 for f in findings)


def test_scan_reads_few_bare_digit_groups_as_phones_only_with_context():
    bare = {i: f"lots 120 450 {i:03d}" for i in range(0, 1000, 25)}  # 4%: 9 digits, no context
    assert pii.scan(free_text(1000, bare)) == []
    told = {i: f"tel 120 450 {i:03d}" for i in range(0, 1000, 25)}
    [finding] = pii.scan(free_text(1000, told))
    assert (finding.kind, finding.matches) == ("phone", 40)
    assert pii.scan(free_text(1000, bare), min_share=0.04)[0].kind == "phone"


def test_scan_reads_a_version_number_as_no_ip_address_but_finds_a_few_addresses():
    versions = {i: "firmware version 10.2.3.4" for i in range(0, 1000, 40)}
    assert pii.scan(free_text(1000, versions)) == []
    hosts = {i: f"login from 81.2.69.{i % 250}" for i in range(0, 1000, 40)}
    [finding] = pii.scan(free_text(1000, hosts))
    assert (finding.kind, finding.matches) == ("ipv4", 25)


def luhn_digit(body: str) -> str:
    return next(str(d) for d in range(10) if pii_detect._luhn(body + str(d)))


def test_scan_does_not_read_random_16_digit_ids_as_cards_but_finds_a_few_real_ones():
    rng = np.random.default_rng(5)
    ids = [int("4" + "".join(map(str, rng.integers(0, 10, 15)))) for _ in range(2000)]
    assert pii.scan(pd.DataFrame({"account": ids})) == []
    assert pii.scan(pd.DataFrame({"account": [str(i) for i in ids]})) == []
    cards = {i: f"paid with {4111111111 * 10**5 + i:015d}" for i in range(0, 1000, 40)}
    cards = {i: t + luhn_digit(t.split()[-1]) for i, t in cards.items()}
    [finding] = pii.scan(free_text(1000, cards))
    assert (finding.kind, finding.matches) == ("card", 25)


def test_a_name_like_column_is_confirmed_only_by_values_that_look_like_identifiers():
    n = 600
    frame = pd.DataFrame(
        {
            "owns_phone": np.where(np.arange(n) % 3, "yes", "no"),
            "phone": [f"+1-415-555-{i:04d}" for i in range(n)],
            "first_name": [f"Name{i % 300}" for i in range(n)],
        }
    )
    named = {f.column: f for f in pii.scan(frame) if f.kind == "name_like_column"}
    assert not named["owns_phone"].confirmed
    assert named["phone"].confirmed and named["first_name"].confirmed


def test_scan_samples_each_column_with_a_seed_so_big_data_stays_fast():
    frame = pd.DataFrame({"note": ["x@y.org", "plain"] * 50_000})
    first = pii.scan(frame, sample=1000, seed=1)
    assert first == pii.scan(frame, sample=1000, seed=1)
    [finding] = first
    assert finding.matches == round(finding.share * 1000)
    assert 0.4 < finding.share < 0.6


def test_scan_finds_card_numbers_held_in_integer_columns():
    frame = pd.DataFrame({"pan": [4111111111111111, 5500000000000004] * 10, "n": range(20)})
    [finding] = pii.scan(frame)
    assert (finding.column, finding.kind, finding.share) == ("pan", "card", 1.0)
    assert finding.example in ("************1111", "************0004")


def test_scan_reports_name_like_columns_by_their_name():
    frame = pd.DataFrame(
        {
            "first_name": ["Ada", "Alan"],
            "LastName": ["Lovelace", "Turing"],
            "date_of_birth": ["1815-12-10", "1912-06-23"],
            "product_name": ["lamp", "desk"],
            "has_email": [True, False],
            "ssn": [None, None],
        }
    )
    findings = pii.scan(frame)
    assert [(f.column, f.kind, f.share) for f in findings] == [
        ("LastName", "name_like_column", 1.0),
        ("date_of_birth", "name_like_column", 1.0),
        ("first_name", "name_like_column", 1.0),
    ]
    assert findings[2].example == "A**"


@pytest.mark.parametrize(
    "name",
    [
        "first_name",
        "LastName",
        "full_name",
        "name",
        "surname",
        "email",
        "e_mail",
        "EmailAddress",
        "phone",
        "mobile",
        "ssn",
        "address_line1",
        "street",
        "dob",
        "date_of_birth",
        "passport_number",
        "customer_name",
        "ip_address",
        "iban",
    ],
)
def test_names_of_direct_identifiers_are_name_like(name):
    assert pii.is_name_like(name)


@pytest.mark.parametrize(
    "name",
    ["product_name", "file_name", "has_email", "email_domain", "phone_hash", "is_mobile", "age"],
)
def test_names_of_other_columns_are_not_name_like(name):
    assert not pii.is_name_like(name)


def test_findings_are_sorted_by_column_then_share_and_convert_to_table_rows():
    frame = pd.DataFrame(
        {
            "z": ["a@b.org"] * 10,
            "a": ["a@b.org call +1-415-555-2671"] * 2 + ["a@b.org"] * 8,
        }
    )
    findings = pii.scan(frame)
    assert [(f.column, f.kind) for f in findings] == [
        ("a", "email"),
        ("a", "phone"),
        ("z", "email"),
    ]
    rows = pii.to_rows(findings)
    assert len(rows[0]) == len(pii.ROW_COLUMNS) == 5
    assert rows[1] == ["a", "phone", 0.2, 2, "+1-***-***-2671"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sample": 0}, r"The 'sample' parameter of scan must be an int >= 1. Got 0 instead."),
        ({"min_share": 1.5}, r"The 'min_share' parameter of scan must be a float in \[0, 1\]"),
    ],
)
def test_scan_refuses_invalid_options_saying_what_was_expected(options, message):
    with pytest.raises(ConfigError, match=message):
        pii.scan(pd.DataFrame({"a": ["x"]}), **options)


def test_scan_refuses_data_that_is_not_a_frame_or_table():
    with pytest.raises(TypeError, match="pandas DataFrame or a pyarrow Table. Got list"):
        pii.scan([["a@b.org"]])


# --- masking ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "masked"),
    [
        ("john.doe@example.com", "email", "j***@e******.com"),
        ("+1-415-555-4421", "phone", "+1-***-***-4421"),
        ("(415) 555-2671", "phone", "(***) ***-2671"),
        ("4111 1111 1111 1111", "card", "**** **** **** 1111"),
        ("123-45-6789", "ssn", "***-**-6789"),
        ("DE89370400440532013000", "iban", "DE****************3000"),
        ("192.168.1.1", "ipv4", "192.*.*.*"),
        ("2001:db8::1", "ipv6", "2001:*::*"),
        ("Lovelace", "name_like_column", "L*******"),
    ],
)
def test_mask_keeps_only_enough_to_recognise_the_value(value, kind, masked):
    assert pii.mask(value, kind) == masked


@FAST
@given(st.text(min_size=6, max_size=40).filter(lambda t: "*" not in t), st.sampled_from(pii.KINDS))
def test_masking_never_returns_the_original_value(value, kind):
    assert pii.mask(value, kind) != value


# --- redaction --------------------------------------------------------------------------------


def test_redact_removes_every_email_from_free_text_and_keeps_the_text_around_it():
    notes = pd.Series(
        ["mail ann@example.com or bob.k@mail.example.org today", None, "no address here"],
        index=[10, 11, 12],
        name="note",
    )
    redacted = pii.redact(notes, "email")
    assert redacted.tolist()[0] == "mail [REDACTED:email] or [REDACTED:email] today"
    assert pd.isna(redacted[11])
    assert redacted[12] == "no address here"
    assert (list(redacted.index), redacted.name) == ([10, 11, 12], "note")
    assert not pii.detect(redacted, "email").any()


def test_redact_without_a_kind_replaces_each_kind_and_with_a_kind_only_that_one():
    text = pd.Series(["card 4111 1111 1111 1111, phone +44 20 7946 0958, ip 10.0.0.1"])
    assert pii.redact(text)[0] == (
        "card [REDACTED:card], phone [REDACTED:phone], ip [REDACTED:ipv4]"
    )
    assert (
        pii.redact(text, "ipv4")[0]
        == "card 4111 1111 1111 1111, phone +44 20 7946 0958, ip [REDACTED:ipv4]"
    )


def test_redact_keeps_a_string_dtype():
    values = pd.Series(["a@b.org", None], dtype="string")
    redacted = pii.redact(values)
    assert redacted.dtype == values.dtype
    assert redacted[0] == "[REDACTED:email]" and pd.isna(redacted[1])


@FAST
@given(st.lists(TEXT, min_size=1, max_size=4).map(" ".join), st.sampled_from(pii.VALUE_KINDS))
def test_redaction_output_contains_no_detectable_pii_of_that_kind(text, kind):
    redacted = pii.redact(pd.Series([text]), kind)
    assert not pii.detect(redacted, kind).any()
    assert not pii.detect(pii.redact(pd.Series([text])), kind).any()


# --- hashing and handling ---------------------------------------------------------------------

KEY = b"0123456789abcdef0123456789abcdef"


def test_hash_is_keyed_stable_per_key_and_different_across_keys():
    values = pd.Series(["ann@example.com", "bob@example.com", "ann@example.com", None])
    once = pii.hash_values(values, key=KEY)
    assert once.tolist()[:3] == pii.hash_values(values, key=KEY).tolist()[:3]
    assert once[0] == once[2] != once[1]
    assert all(re.fullmatch(r"[0-9a-f]{32}", h) for h in once[:3])
    assert pd.isna(once[3])
    other = pii.hash_values(values, key=b"another secret key, 32 bytes lon")
    assert set(other[:3]).isdisjoint(once[:3])
    assert "ann@example.com" not in once.tolist()


def test_hash_takes_the_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("KEEL_PII_KEY", KEY.decode())
    values = pd.Series(["ann@example.com"])
    assert pii.hash_values(values).tolist() == pii.hash_values(values, key=KEY).tolist()


def test_hash_refuses_to_run_without_a_key(monkeypatch):
    monkeypatch.delenv("KEEL_PII_KEY", raising=False)
    with pytest.raises(ConfigError, match="set KEEL_PII_KEY to a secret of at least 16 bytes"):
        pii.hash_values(pd.Series(["ann@example.com"]))


def test_hash_refuses_a_key_shorter_than_16_bytes(monkeypatch):
    monkeypatch.setenv("KEEL_PII_KEY", "short")
    with pytest.raises(ConfigError, match="KEEL_PII_KEY is 5 bytes long: set KEEL_PII_KEY"):
        pii.hash_values(pd.Series(["ann@example.com"]))
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        pii.hash_values(pd.Series(["ann@example.com"]), key=b"short")


def test_apply_handling_keeps_drops_hashes_or_redacts_the_column():
    values = pd.Series(["ann@example.com", None])
    assert pii.apply_handling(values, "none") is values
    assert pii.apply_handling(values, "drop") is None
    assert (
        pii.apply_handling(values, "hash", key=KEY).tolist()[0]
        == (pii.hash_values(values, key=KEY)[0])
    )
    assert pii.apply_handling(values, "redact", kind="email")[0] == "[REDACTED:email]"


def test_apply_handling_refuses_an_unknown_handling_with_the_allowed_ones():
    with pytest.raises(
        ConfigError,
        match=r"The 'handling' parameter of apply_handling must be one of 'none', 'drop', "
        r"'hash', 'redact'. Got 'encrypt' instead.",
    ):
        pii.apply_handling(pd.Series(["x"]), "encrypt")
