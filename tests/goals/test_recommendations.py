"""The rule library: every shipped rule fires on the facts it describes and stays quiet on
facts that miss it by one condition; users' rule files are read and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callkpi.goals.recommendations import (
    Facts,
    RuleError,
    builtin_rules,
    kpis_of,
    load_rules,
    recommend,
)


def facts(
    values: dict[str, float] | None = None,
    statuses: dict[str, str] | None = None,
    benchmarks: dict[str, dict[str, Any]] | None = None,
    previous: dict[str, float] | None = None,
) -> Facts:
    return Facts(values or {}, statuses or {}, benchmarks or {}, previous or {})


WORSE = {"verdict": "worse"}
IN_LINE = {"verdict": "in line"}

# rule id -> (facts that fire it, the KPIs it names, facts one condition short of it)
CASES: dict[str, tuple[Facts, tuple[str, ...], Facts]] = {
    "qualify_leads": (
        facts(statuses={"conversion_rate": "critical", "aht": "warning"}),
        ("aht", "conversion_rate"),
        facts(statuses={"conversion_rate": "critical", "aht": "on track"}),
    ),
    "abandonment": (
        facts(statuses={"abandon_rate": "warning"}),
        ("abandon_rate",),
        facts(statuses={"abandon_rate": "on track"}, benchmarks={"abandon_rate": IN_LINE}),
    ),
    "overstaffed": (
        facts(benchmarks={"abandon_rate": {"verdict": "better", "overstaffed": True}}),
        ("abandon_rate",),
        facts(benchmarks={"abandon_rate": {"verdict": "in line", "overstaffed": False}}),
    ),
    "first_contact_resolution": (
        facts(benchmarks={"fcr": WORSE}),
        ("fcr",),
        facts(statuses={"fcr": "on track"}, benchmarks={"fcr": {"verdict": "better"}}),
    ),
    "after_call_work": (
        facts(statuses={"avg_acw": "critical"}),
        ("avg_acw",),
        facts(statuses={"avg_acw": "on track"}, benchmarks={"avg_acw": IN_LINE}),
    ),
    "cost_per_call_rising": (
        # 4.30 -> 4.60 is +7 %: rising (more than 5 %).
        facts(values={"cost_per_call": 4.60}, previous={"cost_per_call": 4.30}),
        ("cost_per_call",),
        # 4.30 -> 4.50 is +4.7 %: not yet.
        facts(values={"cost_per_call": 4.50}, previous={"cost_per_call": 4.30}),
    ),
    "service_level": (
        facts(statuses={"service_level": "on track"}, benchmarks={"service_level": WORSE}),
        ("service_level",),
        facts(statuses={"service_level": "on track"}, benchmarks={"service_level": IN_LINE}),
    ),
    "burnout": (
        facts(values={"occupancy": 0.93}),
        ("occupancy",),
        facts(values={"occupancy": 0.90}),  # at the mark is not above it
    ),
    "idle_time": (
        facts(values={"occupancy": 0.60}),
        ("occupancy",),
        facts(values={"occupancy": 0.75}),
    ),
    "adherence": (
        facts(statuses={"adherence": "warning"}),
        ("adherence",),
        facts(statuses={"adherence": "no target"}, benchmarks={"adherence": IN_LINE}),
    ),
    "transfers": (
        facts(statuses={"transfer_rate": "critical"}),
        ("transfer_rate",),
        facts(statuses={"transfer_rate": "on track"}),
    ),
    "lead_response": (
        facts(benchmarks={"lead_response_time": WORSE}),
        ("lead_response_time",),
        facts(statuses={"lead_response_time": "on track"}),
    ),
    "satisfaction": (
        facts(statuses={"csat": "on track", "nps": "critical"}),
        ("nps",),
        facts(statuses={"csat": "on track", "nps": "on track"}),
    ),
}


def test_every_shipped_rule_is_covered() -> None:
    assert sorted(r.id for r in builtin_rules()) == sorted(CASES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_and_stays_quiet(rule_id: str) -> None:
    rule = next(r for r in builtin_rules() if r.id == rule_id)
    firing, kpis, quiet = CASES[rule_id]
    found = recommend([rule], firing)
    assert [(r.rule, r.kpis) for r in found] == [(rule_id, kpis)]
    assert found[0].action == " ".join(rule.action.split())
    assert recommend([rule], quiet) == []
    assert recommend([rule], facts()) == []  # no data fires nothing


def test_only_the_matching_rules_fire_together() -> None:
    # A long-AHT, low-conversion sales team with bad abandonment and burnt-out agents.
    found = recommend(
        builtin_rules(),
        facts(
            values={"occupancy": 0.95, "cost_per_call": 5.0},
            statuses={"conversion_rate": "warning", "aht": "critical", "abandon_rate": "critical"},
            previous={"cost_per_call": 5.0},
        ),
    )
    assert [r.rule for r in found] == ["qualify_leads", "abandonment", "burnout"]


def test_trend_needs_a_previous_value() -> None:
    rule = next(r for r in builtin_rules() if r.id == "cost_per_call_rising")
    assert recommend([rule], facts(values={"cost_per_call": 9.0})) == []
    assert recommend([rule], facts(values={"cost_per_call": 9.0},
                                   previous={"cost_per_call": 0.0})) == []


def test_user_rules_add_to_the_library(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "rules:\n"
        "  - id: vip_wait\n"
        "    when:\n"
        "      all:\n"
        "        - {kpi: asa, above: 30}\n"
        "        - not: {kpi: service_level, status: [on track]}\n"
        "    action: VIP callers wait too long; add a VIP overflow.\n",
        "utf-8",
    )
    rules = load_rules([path])
    assert len(rules) == len(builtin_rules()) + 1
    mine = [r for r in rules if r.id == "vip_wait"]
    hit = recommend(mine, facts(values={"asa": 31.0}, statuses={"service_level": "warning"}))
    assert [(r.rule, r.kpis) for r in hit] == [("vip_wait", ("asa",))]
    assert recommend(mine, facts(values={"asa": 31.0},
                                 statuses={"service_level": "on track"})) == []
    assert recommend(mine, facts(values={"asa": 30.0})) == []
    assert {"asa", "service_level"} <= kpis_of(rules)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{id: x, when: {kpi: asa, above: 1, below: 2}, action: a}]",
         "mine.yaml: rules.0.when: Value error, condition on asa: give exactly one test, "
         "got ['above', 'below']"),
        ("rules: [{id: x, when: {kpi: asa, above: 1}}]",
         "mine.yaml: rules.0.action: Field required"),
        ("rules: [{id: x, when: {kpi: asa, above: 1}, action: a, extra: 1}]",
         "mine.yaml: rules.0.extra: Extra inputs are not permitted"),
        ("nothing: here", "mine.yaml: expected a mapping with a 'rules' list"),
        ("rules: [", "mine.yaml: not valid YAML"),
        ("rules: [{id: burnout, when: {kpi: asa, above: 1}, action: a}]",
         "rule 'burnout' is defined twice"),
    ],
)
def test_bad_rule_files_say_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    assert message in str(caught.value)


def test_an_action_in_several_languages(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "rules:\n"
        "  - id: vip_wait\n"
        "    when: {kpi: asa, above: 30}\n"
        "    action:\n"
        "      en: >-\n"
        "        VIP callers wait\n"
        "        too long.\n"
        "      ru: VIP-клиенты   ждут слишком долго.\n",
        "utf-8",
    )
    mine = [r for r in load_rules([path]) if r.id == "vip_wait"]
    assert mine[0].action == "VIP callers wait too long."
    hit = recommend(mine, facts(values={"asa": 31.0}))
    assert [(r.rule, r.action, dict(r.texts)) for r in hit] == [
        ("vip_wait", "VIP callers wait too long.", {"ru": "VIP-клиенты ждут слишком долго."})]
    # A plain text has no other languages; the shipped rules are English only.
    assert all(r.texts == () for r in builtin_rules())
    assert recommend([builtin_rules()[-1]], facts(statuses={"csat": "critical"}))[0].texts == {}


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("{ru: Только по-русски}", "action: the English text (en) is required"),
        ("{en: a, russian: б}", "'russian' is not a two-letter language code"),
        ("{en: a, ru: [b]}", "action: the ru text is not text"),
        ("{en: a, ru: ''}", "action: the ru text is not text"),
    ],
)
def test_languages_of_an_action_are_checked(tmp_path: Path, action: str, message: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(f"rules: [{{id: x, when: {{kpi: asa, above: 1}}, action: {action}}}]", "utf-8")
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    assert message in str(caught.value)


def test_texts_are_given_in_the_action_only(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("rules: [{id: x, when: {kpi: asa, above: 1}, action: a,"
                    " texts: [[ru, б]]}]", "utf-8")
    with pytest.raises(RuleError, match="not texts"):
        load_rules([path])
