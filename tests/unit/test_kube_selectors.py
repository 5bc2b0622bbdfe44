import pytest

from acs_smtp_operator.sandbox.kube.selectors import SelectorError, field_matcher, label_matcher

LABELS = {"app": "web", "tier": "front"}

CASES = [
    ("an empty selector matches everything", "", True),
    ("equality matches the same value", "app=web", True),
    ("double equals is equality too", "app==web", True),
    ("inequality refuses the same value", "app!=web", False),
    ("all terms must hold", "app=web,tier=back", False),
    ("set membership matches a listed value", "tier in (front, back)", True),
    ("set exclusion refuses a listed value", "tier notin (front)", False),
    ("existence matches a present key", "tier", True),
    ("non-existence refuses a present key", "!tier", False),
    ("non-existence matches an absent key", "!owner", True),
]


@pytest.mark.parametrize(("name", "selector", "matches"), CASES, ids=[c[0] for c in CASES])
def test_label_selectors(name: str, selector: str, matches: bool) -> None:
    assert label_matcher(selector)(LABELS) is matches


def test_field_selectors_compare_dotted_paths() -> None:
    obj = {"metadata": {"name": "a", "namespace": "ns"}}
    assert field_matcher("metadata.name=a,metadata.namespace=ns")(obj)
    assert not field_matcher("metadata.name!=a")(obj)


def test_a_malformed_selector_is_refused() -> None:
    with pytest.raises(SelectorError):
        label_matcher("app in web")
