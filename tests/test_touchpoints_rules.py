"""Pure rules of touchpoints: the built-in kinds, scene keys and WeCom states."""

from __future__ import annotations

from siyu.touchpoints import rules
from siyu.touchpoints.rules import Carrier


def test_there_are_at_least_30_built_in_kinds_grouped_by_carrier() -> None:
    groups = rules.kinds_by_carrier()
    assert len(rules.BUILT_IN_KINDS) == 33
    assert list(groups) == list(Carrier)
    assert [k.code for k in groups[Carrier.OFFICIAL_ACCOUNT]][:4] == [
        "oa_menu",
        "oa_article",
        "oa_template_message",
        "oa_follow_reply",
    ]
    assert {"guide_code", "guide_share", "guide_moments_post"} <= {
        k.code for k in groups[Carrier.WECOM]
    }
    assert {"shelf_code", "counter_code", "receipt_code", "poster", "smart_screen"} <= {
        k.code for k in groups[Carrier.STORE]
    }
    assert rules.BUILT_IN_BY_CODE["shelf_code"].label == "货架码"
    assert len(rules.BUILT_IN_BY_CODE) == len(rules.BUILT_IN_KINDS)


def test_a_thousand_scene_keys_are_unique_short_and_in_the_allowed_set() -> None:
    keys = [rules.new_scene_key() for _ in range(1000)]
    assert len(set(keys)) == 1000
    for key in keys:
        assert len(key) == 13 <= rules.SCENE_MAX_LENGTH
        assert set(key) <= rules.SCENE_CHARSET
        assert rules.is_valid_scene_key(key)
        assert len(rules.state_for(key)) <= rules.STATE_MAX_LENGTH


def test_scene_key_validity() -> None:
    assert rules.is_valid_scene_key("a" * 32)
    assert rules.is_valid_scene_key("A1!#$&'()*+,/:;=?@-._~")
    assert not rules.is_valid_scene_key("a" * 33)
    assert not rules.is_valid_scene_key("")
    assert not rules.is_valid_scene_key("a%20b")
    assert not rules.is_valid_scene_key("货架")


def test_the_state_is_the_key_with_a_prefix() -> None:
    assert rules.state_for("tabc") == "tp_tabc"
    assert rules.launch_url("tabc") == "https://mp.example/launch?scene=tabc"
