from keel.checks._policy import denied, policy_reasons
from keel.config import PolicySection
from keel.data.schema import Feature, Schema


def test_a_deny_pattern_matches_names_whatever_their_case():
    assert denied("SSN_raw", ["ssn*"]) == "ssn*"
    assert denied("income", ["ssn*", "*_raw"]) is None
    assert denied("card_raw", ["ssn*", "*_RAW"]) == "*_RAW"


def test_an_input_breaks_the_policy_for_every_reason_that_applies():
    schema = Schema(
        features={
            "income": Feature(type="float", owner="risk", description="monthly income"),
            "zip": Feature(type="string"),
        }
    )
    policy = PolicySection(deny=["ssn*"], require_owner=True)
    assert policy_reasons("income", policy, [], schema) == []
    assert policy_reasons("zip", policy, [], schema) == ["has no owner", "has no description"]
    assert policy_reasons("ssn", policy, ["ssn"], schema) == [
        "matches deny pattern 'ssn*'",
        "is a sensitive attribute",
        "is not in the schema",
    ]
    assert policy_reasons("zip", PolicySection(), [], None) == []
