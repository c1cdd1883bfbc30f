"""Option catalogue: options per type and facts, the 7-day rule, authority limits, reading replies."""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.policy.catalogue import (
    COMPLAINT_TYPES,
    DEFAULT_PATH,
    Case,
    Catalogue,
    Option,
    default_catalogue,
    demanded_amount_from_text,
    load_catalogue,
)

COMPENSATION_IDS = {
    "partial_refund",
    "coupon",
    "coupon_loss",
    "goodwill_coupon",
    "demanded_compensation",
}
NO_REASON_IDS = {"return_refund_no_reason", "exchange_no_reason"}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def ids(options: list[Option]) -> list[str]:
    return [o.id for o in options]


def concrete(options: list[Option]) -> list[Option]:
    return [o for o in options if o.id != "human_review"]


# --------------------------------------------------------------------------------------------
# The grid: every type, many fact combinations, always >= 2 concrete options + human review

PROBLEMS = {
    "product": [
        "收到的电饭煲煮饭夹生",
        "拍的是耙子寄来的是铲子",
        "衣服尺码不合适 不喜欢",
        "少了一个配件 赠品也没有",
        "水果烂了好几个",
        "定制的刻字杯子有裂痕",
        "游戏光盘已经拆封了 不想要了",
        "我不小心摔坏了",
        "用了一次就冒烟了",
        "外卖里吃出头发",
        "",
    ],
    "logistics": [
        "快递三天没动了",
        "我要求发圆通你们发了天天",
        "下单一周了还没发货",
        "箱子压坏了 里面的杯子碎了",
        "显示签收了但我没收到 丢件了",
        "没送上门 直接放驿站了",
        "",
    ],
    "service": [
        "客服半天不回",
        "说好的退款一直没人管",
        "客服态度很差 还骂人",
        "售后一直推来推去",
        "",
    ],
    "malicious": [
        "给我补偿500不然天天给你差评",
        "加我微信私下转账给我200 不然投诉",
        "东西其实没问题 就是想白拿",
        "质量太差了 不赔1000就差评",
        "",
    ],
}
CATEGORIES = [None, "appliances", "电子产品", "服装", "food", "food_delivery", "家具"]
DAYS = [None, 0, 7, 8, 30]
DELIVERED = [None, True, False]
URGENCIES = [None, "safety", "vulnerable"]
DEFECT = [None, True, False]
DEMANDS = [None, 20, 300, 1500, 5000]


def grid_cases(complaint_type: str, problem: str) -> list[Case]:
    cases = []
    for category, days, delivered, urgency, defect in itertools.product(CATEGORIES, DAYS, DELIVERED, URGENCIES, DEFECT):
        cases.append(
            Case(
                complaint_type=complaint_type,
                urgency=urgency,
                product_category=category,
                problem=problem,
                days_since_receipt=days,
                delivered=delivered,
                is_quality_defect=defect,
                order_amount=None if days is None else 299.0,
            )
        )
    for desired, demanded, order in itertools.product(
        [None, "refund", "exchange", "compensation", "callback"],
        DEMANDS,
        [None, 99.0, 4000.0],
    ):
        cases.append(
            Case(
                complaint_type=complaint_type,
                problem=problem,
                desired_outcome=desired,
                demanded_amount=demanded,
                order_amount=order,
            )
        )
    return cases


@pytest.mark.parametrize(
    "complaint_type, problem",
    [(t, p) for t, problems in PROBLEMS.items() for p in problems],
)
def test_grid_always_two_concrete_options_and_human_review_last(
    catalogue: Catalogue, complaint_type: str, problem: str
) -> None:
    for case in grid_cases(complaint_type, problem):
        options = catalogue.options_for(case)
        assert len(concrete(options)) >= 2, (case, ids(options))
        assert options[-1].id == "human_review", case
        assert ids(options).count("human_review") == 1
        assert len(set(ids(options))) == len(options), ids(options)
        for option in options:
            assert option.description.endswith("。") and option.label, option
            assert len(option.label) <= 8
            # every promise carries a time
            assert option.by_when_hours is not None or option.by_when_text, option
            assert any(ch.isdigit() for ch in option.description) or (
                option.by_when_text and option.by_when_text in option.description
            ), option
            if option.compensation:
                assert option.approval == catalogue.approval_for(option.compensation)
            else:
                assert option.approval is None
        if complaint_type == "malicious":
            assert all(not o.compensation for o in options), (case, ids(options))
            assert not COMPENSATION_IDS & set(ids(options))
        if not catalogue.no_reason_return_allowed(case):
            assert not NO_REASON_IDS & set(ids(options)), (case, ids(options))
        if complaint_type == "product" and catalogue.is_quality_defect(case):
            assert {"return_refund", "refund_without_return"} & set(ids(options)), (
                case,
                ids(options),
            )
        # the customer's wish comes first when an option fits it
        if case.desired_outcome:
            fitting = [o for o in concrete(options) if _fits(catalogue, case, o)]
            if fitting:
                assert options[: len(fitting)] == fitting, (case, ids(options))


@functools.lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    return yaml.load(
        DEFAULT_PATH.read_text(encoding="utf-8"),
        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
    )


def _fits(catalogue: Catalogue, case: Case, option: Option) -> bool:
    if option.id == "demanded_compensation":
        return case.desired_outcome == "compensation"
    spec = next(s for s in _shipped()["options"][case.complaint_type] if s["id"] == option.id)
    return case.desired_outcome in spec.get("outcomes", [])


@pytest.mark.parametrize("complaint_type", COMPLAINT_TYPES)
def test_every_type_offers_at_least_two_with_no_facts_at_all(catalogue: Catalogue, complaint_type: str) -> None:
    options = catalogue.options_for(Case(complaint_type=complaint_type))
    assert len(concrete(options)) >= 2
    assert options[-1] == catalogue.human_review
    assert catalogue.options_for(Case(complaint_type=complaint_type), include_human_review=False) == options[:-1]


# --------------------------------------------------------------------------------------------
# Options per type and facts


@pytest.mark.parametrize(
    "case, expected",
    [
        # quality defect in a repairable category, inside the window
        (
            Case(
                "product",
                product_category="appliances",
                problem="收到的电饭煲煮饭夹生",
                days_since_receipt=2,
                order_amount=299,
            ),
            ["return_refund", "exchange", "repair", "partial_refund"],
        ),
        # quality defect outside the window: still return/exchange, seller pays shipping
        (
            Case(
                "product",
                product_category="服装",
                problem="衣服开线了 有破洞",
                days_since_receipt=40,
            ),
            ["return_refund", "exchange", "partial_refund"],
        ),
        # no defect, inside the window: the no-reason return and exchange
        (
            Case(
                "product",
                product_category="clothing",
                problem="尺码不合适 不喜欢",
                days_since_receipt=3,
            ),
            [
                "return_refund_no_reason",
                "exchange_no_reason",
                "quality_inspection",
                "usage_help",
            ],
        ),
        # no defect, outside the window
        (
            Case(
                "product",
                product_category="clothing",
                problem="不喜欢这个款式",
                days_since_receipt=20,
            ),
            ["quality_inspection", "usage_help"],
        ),
        # misuse: explain the correct use, repair still possible
        (
            Case(
                "product",
                product_category="electronics",
                problem="我不小心摔坏了",
                days_since_receipt=20,
            ),
            ["repair", "quality_inspection", "usage_help"],
        ),
        # perishable with a defect: refund without sending it back
        (
            Case("product", product_category="food", problem="水果烂了好几个"),
            ["refund_without_return", "reship_fresh", "partial_refund"],
        ),
        # missing parts
        (
            Case(
                "product",
                product_category="家具",
                problem="少了两个螺丝配件",
                days_since_receipt=1,
            ),
            ["return_refund", "exchange", "repair", "partial_refund", "reship_parts"],
        ),
        # safety: no repair, no keep-it-with-a-discount, costs covered
        (
            Case(
                "product",
                urgency="safety",
                product_category="appliances",
                problem="用了一次就冒烟了",
            ),
            ["return_refund", "exchange", "safety_costs"],
        ),
        (
            Case(
                "product",
                urgency="safety",
                product_category="food_delivery",
                problem="外卖吃了拉肚子 饭菜变质",
            ),
            ["refund_without_return", "safety_costs"],
        ),
        # logistics
        (
            Case("logistics", problem="快递三天没动了"),
            ["chase_courier", "reship", "refund", "coupon"],  # stalled tracking: reship is offered
        ),
        (
            Case("logistics", problem="下单一周了还没发货"),
            ["ship_now", "refund", "coupon"],
        ),
        (
            Case("logistics", problem="箱子压坏了 里面碎了"),
            ["reship", "refund", "coupon_loss"],
        ),
        (
            Case("logistics", problem="显示签收了但没收到 丢件了"),
            ["chase_courier", "reship", "refund", "coupon_loss"],
        ),
        # service
        (
            Case("service", problem="客服半天不回"),
            ["callback", "supervisor_review", "goodwill_coupon"],
        ),
        (
            Case("service", problem="说好的退款一直没人管"),
            ["callback", "supervisor_review", "expedite", "goodwill_coupon"],
        ),
        # malicious: the normal process only
        (
            Case("malicious", problem="给我补偿500不然天天给你差评", demanded_amount=500),
            ["policy_return", "platform_process", "verify_evidence"],
        ),
        (
            Case("malicious", problem="不想要了 加我微信私下转账", days_since_receipt=30),
            ["platform_process", "verify_evidence"],
        ),
    ],
)
def test_options_for_typical_cases(catalogue: Catalogue, case: Case, expected: list[str]) -> None:
    assert ids(catalogue.options_for(case, include_human_review=False)) == expected


@pytest.mark.parametrize(
    "order_amount, expected",
    [(299.0, 89.7), (100.0, 30.0), (2000.0, 300.0), (None, 20.0), (0.5, 0.15)],
)
def test_partial_refund_amount_rule(catalogue: Catalogue, order_amount: float | None, expected: float) -> None:
    case = Case("product", problem="裂了", order_amount=order_amount)
    option = next(o for o in catalogue.options_for(case) if o.id == "partial_refund")
    assert option.compensation == pytest.approx(expected)
    assert option.approval is None
    assert f"{expected:g}元" in option.description


@pytest.mark.parametrize(
    "problem, expected",
    [("快递太慢了", 10.0), ("箱子被压扁了", 20.0), ("包裹丢了", 20.0)],
)
def test_logistics_coupon_amounts(catalogue: Catalogue, problem: str, expected: float) -> None:
    coupons = [o for o in catalogue.options_for(Case("logistics", problem=problem)) if o.label == "补偿优惠券"]
    assert [o.compensation for o in coupons] == [expected]
    assert f"{expected:g}元" in coupons[0].description


def test_descriptions_carry_the_hours(catalogue: Catalogue) -> None:
    options = catalogue.options_for(Case("service", problem="客服不回"))
    callback = options[0]
    assert callback.id == "callback" and callback.by_when_text == "您选定的时间"
    assert "24小时" in callback.description
    review = catalogue.human_review
    assert review.label == "人工复核" and review.by_when_hours == 24 and "24小时内" in review.description


# --------------------------------------------------------------------------------------------
# The 7-day rule


@pytest.mark.parametrize(
    "case_kwargs, allowed, reason",
    [
        ({"problem": "不喜欢", "days_since_receipt": 0}, True, None),
        ({"problem": "不喜欢", "days_since_receipt": 7}, True, None),
        ({"problem": "不喜欢", "days_since_receipt": 8}, False, "past_window"),
        ({"problem": "不喜欢", "days_since_receipt": 60}, False, "past_window"),
        (
            {"problem": "不喜欢"},
            True,
            None,
        ),  # unknown days: the option states the window
        ({"problem": "不喜欢", "delivered": False}, False, "not_received"),
        ({"problem": "不喜欢", "delivered": True, "days_since_receipt": 1}, True, None),
        # custom-made
        (
            {"problem": "定制的刻字钢笔不想要了", "days_since_receipt": 1},
            False,
            "custom_made",
        ),
        (
            {"problem": "照片定制的抱枕 颜色太暗", "days_since_receipt": 1},
            False,
            "custom_made",
        ),
        ({"problem": "量身定做的西装", "days_since_receipt": 1}, False, "custom_made"),
        # perishable, by keyword or by category
        ({"problem": "买的鲜花不想要了", "days_since_receipt": 1}, False, "perishable"),
        (
            {"problem": "海鲜收到了 不想要了", "days_since_receipt": 1},
            False,
            "perishable",
        ),
        ({"problem": "蛋糕 不喜欢", "days_since_receipt": 0}, False, "perishable"),
        (
            {
                "problem": "不想要了",
                "product_category": "food_delivery",
                "days_since_receipt": 0,
            },
            False,
            "perishable",
        ),
        (
            {
                "problem": "不想要了",
                "product_category": "生鲜",
                "days_since_receipt": 0,
            },
            False,
            "perishable",
        ),
        (
            {
                "problem": "饼干买多了 不想要了",
                "product_category": "food",
                "days_since_receipt": 1,
            },
            True,
            None,
        ),
        # opened digital goods: only once opened
        (
            {"problem": "游戏光盘已经拆封了 不想要了", "days_since_receipt": 1},
            False,
            "opened_digital",
        ),
        (
            {"problem": "软件激活码已经激活了", "days_since_receipt": 1},
            False,
            "opened_digital",
        ),
        (
            {"problem": "DVD拆开看了一次", "days_since_receipt": 1},
            False,
            "opened_digital",
        ),
        ({"problem": "游戏光盘还没拆封 不想要了", "days_since_receipt": 1}, True, None),
        ({"problem": "没拆封的正版软件", "days_since_receipt": 1}, True, None),
        # newspapers and periodicals
        (
            {"problem": "订的杂志不想看了", "days_since_receipt": 1},
            False,
            "periodicals",
        ),
        ({"problem": "报纸送错了期数", "days_since_receipt": 1}, False, "periodicals"),
        (
            {"problem": "这期期刊不想要了", "days_since_receipt": 1},
            False,
            "periodicals",
        ),
        # an exclusion wins over the window
        ({"problem": "定制的T恤", "days_since_receipt": 30}, False, "custom_made"),
        # Traditional characters and full-width letters
        (
            {"problem": "訂的雜誌不想要了", "days_since_receipt": 1},
            False,
            "periodicals",
        ),
        ({"problem": "ＤＶＤ拆封了", "days_since_receipt": 1}, False, "opened_digital"),
    ],
)
def test_no_reason_return_rule(
    catalogue: Catalogue, case_kwargs: dict[str, Any], allowed: bool, reason: str | None
) -> None:
    case = Case("product", **case_kwargs)
    verdict = catalogue.no_reason_return_verdict(case)
    assert verdict.allowed is allowed
    assert verdict.reason == reason
    assert catalogue.no_reason_return_allowed(case) is allowed
    if not allowed:
        assert verdict.explanation and verdict.explanation.endswith("。")
    offered = set(ids(catalogue.options_for(case)))
    assert ("return_refund_no_reason" in offered) is (allowed and not catalogue.is_quality_defect(case))


@pytest.mark.parametrize(
    "problem, days",
    [
        ("定制的刻字杯子有裂痕", 1),  # custom-made
        ("游戏光盘拆封了 里面的光盘是碎的", 1),  # opened digital
        ("杂志印刷质量问题 缺页", 1),  # periodicals
        ("衣服开线了 质量太差", 30),  # outside the window
        ("手机屏幕坏了", 100),
    ],
)
def test_quality_defect_keeps_return_and_exchange_with_seller_paid_shipping(
    catalogue: Catalogue, problem: str, days: int
) -> None:
    case = Case("product", problem=problem, days_since_receipt=days)
    assert not catalogue.no_reason_return_allowed(case)
    assert catalogue.is_quality_defect(case)
    options = {o.id: o for o in catalogue.options_for(case)}
    assert {"return_refund", "exchange"} <= set(options)
    assert not NO_REASON_IDS & set(options)
    for option_id in ("return_refund", "exchange"):
        assert "运费由我们承担" in options[option_id].description


def test_perishable_defect_refund_without_return(catalogue: Catalogue) -> None:
    case = Case("product", problem="鲜花收到就枯萎发霉了", days_since_receipt=0)
    assert catalogue.no_reason_return_verdict(case).reason == "perishable"
    options = ids(catalogue.options_for(case))
    assert options[0] == "refund_without_return"
    assert "return_refund" not in options


def test_window_and_keywords_come_from_config(tmp_path: Path) -> None:
    raw = _raw()
    raw["no_reason_return"]["window_days"] = 15
    raw["no_reason_return"]["exclusions"]["custom_made"]["keywords"].append("专属款")
    catalogue = load_catalogue(_write(tmp_path, raw))
    assert catalogue.no_reason_return_allowed(Case("product", problem="不喜欢", days_since_receipt=15))
    assert not catalogue.no_reason_return_allowed(Case("product", problem="不喜欢", days_since_receipt=16))
    assert catalogue.no_reason_return_verdict(Case("product", problem="专属款 不喜欢")).reason == "custom_made"
    option = next(
        o for o in catalogue.options_for(Case("product", problem="不喜欢")) if o.id == "return_refund_no_reason"
    )
    assert "签收15天内" in option.description


@pytest.mark.parametrize(
    "problem, defect",
    [
        ("收到的电饭煲煮饭夹生", True),
        ("拍的是耙子寄来的是铲子 发错了", True),
        ("是假货", True),
        ("和描述不符", True),
        ("少发了一件", True),
        ("牛奶变质了", True),
        ("手机没坏 就是不喜欢", False),
        ("是不是坏了", True),
        ("不是质量问题 我自己摔的", False),
        ("我不小心摔坏了", False),
        ("孩子弄坏了", False),
        ("不喜欢这个颜色", False),
        ("", False),
    ],
)
def test_quality_defect_from_problem_text(catalogue: Catalogue, problem: str, defect: bool) -> None:
    assert catalogue.is_quality_defect(Case("product", problem=problem)) is defect


def test_explicit_defect_flag_wins_over_keywords(catalogue: Catalogue) -> None:
    assert catalogue.is_quality_defect(Case("product", problem="不喜欢", is_quality_defect=True))
    assert not catalogue.is_quality_defect(Case("product", problem="坏了", is_quality_defect=False))


# --------------------------------------------------------------------------------------------
# Authority limits


@pytest.mark.parametrize(
    "amount, approver",
    [
        (0, None),
        (20, None),
        (499.99, None),
        (500, None),
        (500.0, None),
        (500.01, "manager"),
        (1200, "manager"),
        (2000, "manager"),
        (2000.0, "manager"),
        (2000.01, "headquarters"),
        (100000, "headquarters"),
    ],
)
def test_approval_boundaries(catalogue: Catalogue, amount: float, approver: str | None) -> None:
    assert catalogue.approval_for(amount) == approver


@pytest.mark.parametrize("amount", [-0.01, float("nan"), float("inf")])
def test_approval_rejects_bad_amounts(catalogue: Catalogue, amount: float) -> None:
    with pytest.raises(ValueError):
        catalogue.approval_for(amount)


def test_authority_limits_come_from_config(tmp_path: Path) -> None:
    raw = _raw()
    raw["authority"]["bot_max"] = 100
    raw["authority"]["manager_max"] = 300
    catalogue = load_catalogue(_write(tmp_path, raw))
    assert [catalogue.approval_for(a) for a in (100, 100.01, 300, 300.01)] == [
        None,
        "manager",
        "manager",
        "headquarters",
    ]
    # the partial refund (30% of the order, at most 300) now needs a manager
    option = next(
        o for o in catalogue.options_for(Case("product", problem="坏了", order_amount=1000)) if o.id == "partial_refund"
    )
    assert (option.compensation, option.approval, option.by_when_hours) == (
        300.0,
        "manager",
        48.0,
    )
    assert "店铺经理审批" in option.description and "48小时" in option.description


# --------------------------------------------------------------------------------------------
# The customer's wish and a demanded amount


@pytest.mark.parametrize(
    "case, first",
    [
        (
            Case(
                "product",
                problem="电饭煲坏了",
                product_category="appliances",
                desired_outcome="exchange",
            ),
            "exchange",
        ),
        (
            Case(
                "product",
                problem="电饭煲坏了",
                product_category="appliances",
                desired_outcome="repair",
            ),
            "repair",
        ),
        (
            Case(
                "product",
                problem="电饭煲坏了",
                product_category="appliances",
                desired_outcome="partial_refund",
            ),
            "partial_refund",
        ),
        (
            Case(
                "product",
                problem="电饭煲坏了",
                product_category="appliances",
                desired_outcome="refund",
            ),
            "return_refund",
        ),
        (Case("product", problem="少了配件", desired_outcome="reship"), "reship_parts"),
        (
            Case(
                "product",
                problem="衣服不喜欢",
                desired_outcome="exchange",
                days_since_receipt=1,
            ),
            "exchange_no_reason",
        ),
        (Case("logistics", problem="快递丢了", desired_outcome="reship"), "reship"),
        (Case("logistics", problem="快递没动", desired_outcome="refund"), "refund"),
        (
            Case("logistics", problem="快递没动", desired_outcome="compensation"),
            "coupon",
        ),
        (
            Case("service", problem="客服骂人", desired_outcome="supervisor"),
            "supervisor_review",
        ),
        (Case("service", problem="客服骂人", desired_outcome="apology"), "callback"),
        (
            Case("service", problem="说好的退款一直没人管", desired_outcome="refund"),
            "expedite",
        ),
        (
            Case("service", problem="客服不回", desired_outcome="compensation"),
            "goodwill_coupon",
        ),
        (
            Case("malicious", problem="不赔就差评", desired_outcome="compensation"),
            "platform_process",
        ),
    ],
)
def test_desired_outcome_first(catalogue: Catalogue, case: Case, first: str) -> None:
    options = catalogue.options_for(case)
    assert options[0].id == first
    assert set(ids(options)) == set(ids(catalogue.options_for(Case(**{**case.__dict__, "desired_outcome": None}))))


def test_desired_outcome_that_fits_nothing_keeps_catalogue_order(
    catalogue: Catalogue,
) -> None:
    plain = Case("product", problem="衣服破了", product_category="clothing")
    wished = Case(
        "product",
        problem="衣服破了",
        product_category="clothing",
        desired_outcome="repair",
    )
    assert ids(catalogue.options_for(wished)) == ids(catalogue.options_for(plain))


@pytest.mark.parametrize(
    "case, offered, compensation, approval",
    [
        # product: quality defect, up to the order amount
        (
            Case("product", problem="手机坏了", order_amount=800, demanded_amount=300),
            True,
            300.0,
            None,
        ),
        (
            Case("product", problem="手机坏了", order_amount=800, demanded_amount=800),
            True,
            800.0,
            "manager",
        ),
        (
            Case("product", problem="手机坏了", order_amount=800, demanded_amount=800.01),
            False,
            None,
            None,
        ),
        (
            Case("product", problem="电视坏了", order_amount=6000, demanded_amount=2500),
            True,
            2500.0,
            "headquarters",
        ),
        (
            Case("product", problem="手机坏了", demanded_amount=100),
            False,
            None,
            None,
        ),  # order amount unknown
        (
            Case("product", problem="不喜欢", order_amount=800, demanded_amount=100),
            False,
            None,
            None,
        ),  # no defect
        # logistics: lost or damaged up to the order amount; a delay at most 20
        (
            Case("logistics", problem="快递丢了", order_amount=300, demanded_amount=300),
            True,
            300.0,
            None,
        ),
        (
            Case("logistics", problem="快递丢了", order_amount=300, demanded_amount=301),
            False,
            None,
            None,
        ),
        (
            Case("logistics", problem="快递太慢了", order_amount=300, demanded_amount=20),
            True,
            20.0,
            None,
        ),
        (
            Case("logistics", problem="快递太慢了", order_amount=300, demanded_amount=50),
            False,
            None,
            None,
        ),
        # service: goodwill at most 50
        (Case("service", problem="客服骂人", demanded_amount=50), True, 50.0, None),
        (Case("service", problem="客服骂人", demanded_amount=200), False, None, None),
        # malicious: never
        (
            Case(
                "malicious",
                problem="不给500就差评",
                order_amount=5000,
                demanded_amount=500,
            ),
            False,
            None,
            None,
        ),
        (
            Case("malicious", problem="坏了 赔20", order_amount=5000, demanded_amount=20),
            False,
            None,
            None,
        ),
        # money for a review is never offered
        (
            Case("service", problem="赔我20我就删差评", demanded_amount=20),
            False,
            None,
            None,
        ),
    ],
)
def test_demanded_compensation_rules(
    catalogue: Catalogue,
    case: Case,
    offered: bool,
    compensation: float | None,
    approval: str | None,
) -> None:
    options = {o.id: o for o in catalogue.options_for(case)}
    assert ("demanded_compensation" in options) is offered
    assert catalogue.demanded_compensation_allowed(case) is offered
    if offered:
        option = options["demanded_compensation"]
        assert option.compensation == compensation and option.approval == approval
        assert f"{compensation:g}元" in option.description
        if approval:
            assert ("店铺经理" if approval == "manager" else "总部") in option.description
            assert option.by_when_hours == 48 + (24 if approval == "manager" else 72)
            assert f"{option.by_when_hours:g}小时" in option.description


def test_demanded_amount_goes_first_when_the_wish_is_compensation(
    catalogue: Catalogue,
) -> None:
    case = Case(
        "product",
        problem="手机坏了",
        order_amount=800,
        demanded_amount=300,
        desired_outcome="compensation",
    )
    assert ids(catalogue.options_for(case))[:2] == [
        "demanded_compensation",
        "partial_refund",
    ]
    case = Case(
        "product",
        problem="手机坏了",
        order_amount=800,
        demanded_amount=300,
        desired_outcome="exchange",
    )
    assert ids(catalogue.options_for(case))[:2] == ["exchange", "demanded_compensation"]


def test_review_bargain_gets_no_compensation_at_all(catalogue: Catalogue) -> None:
    options = catalogue.options_for(Case("product", problem="杯子碎了 退点钱我就删差评", order_amount=100))
    assert all(not o.compensation for o in options)
    assert len(concrete(options)) >= 2


@pytest.mark.parametrize("complaint_type", ["product", "logistics", "service", "malicious"])
def test_malicious_never_gets_compensation(catalogue: Catalogue, complaint_type: str) -> None:
    case = Case(
        complaint_type,
        problem="坏了 丢了 不给赔偿就差评",
        demanded_amount=10,
        order_amount=1000,
        desired_outcome="compensation",
    )
    has_money = any(o.compensation for o in catalogue.options_for(case))
    assert has_money is (complaint_type != "malicious")


# --------------------------------------------------------------------------------------------
# Reading the customer's choice


@pytest.fixture(scope="module")
def product_offer(catalogue: Catalogue) -> list[Option]:
    offer = catalogue.options_for(
        Case(
            "product",
            product_category="appliances",
            problem="电饭煲坏了",
            order_amount=299,
        )
    )
    assert ids(offer) == [
        "return_refund",
        "exchange",
        "repair",
        "partial_refund",
        "human_review",
    ]
    return offer


@pytest.mark.parametrize(
    "reply, expected",
    [
        # numbers in every form
        ("1", "return_refund"),
        ("2", "exchange"),
        ("２", "exchange"),
        ("一", "return_refund"),
        ("三", "repair"),
        ("第一个", "return_refund"),
        ("第2个吧", "exchange"),
        ("第二种", "exchange"),
        ("第 3 个", "repair"),
        ("选2", "exchange"),
        ("我选择3", "repair"),
        ("2号", "exchange"),
        ("选2号", "exchange"),
        ("我选二号方案", "exchange"),
        ("方案三", "repair"),
        ("选项4", "partial_refund"),
        ("③", "repair"),
        ("那就第二个吧谢谢", "exchange"),
        ("嗯 3", "repair"),
        ("2吧", "exchange"),
        ("就1", "return_refund"),
        ("最后一个", "human_review"),
        ("第五个", "human_review"),
        ("1，退款", "return_refund"),
        ("2、换货", "exchange"),
        # labels and keywords
        ("退货退款", "return_refund"),
        ("退款", "return_refund"),
        ("还是退钱吧", "return_refund"),
        ("换货吧", "exchange"),
        ("我要换个新的", "exchange"),
        ("换一个", "exchange"),
        ("維修", "repair"),
        ("修一下就行", "repair"),
        ("部分退款", "partial_refund"),
        ("不退货部分退款", "partial_refund"),
        ("留着吧 退点钱", "partial_refund"),
        ("人工复核", "human_review"),
        ("我要人工", "human_review"),
        ("我不同意", "human_review"),
        # negation
        ("不要退款，换货吧", "exchange"),
        ("不退货了，换货", "exchange"),
        ("别给我退款了 修一下", "repair"),
        # nothing, several, out of range, indifferent
        ("", None),
        ("   ", None),
        ("好的", None),
        ("嗯", None),
        ("什么时候能到", None),
        ("都行", None),
        ("随便吧", None),
        ("都不要", None),
        ("第一个和第二个", None),
        ("退款或者换货", None),
        ("2 退款", None),
        ("第六个", None),
        ("选9", None),
        ("7", None),
        ("不要退款", None),
        ("我要500块", None),
    ],
)
def test_match_choice_product(
    catalogue: Catalogue, product_offer: list[Option], reply: str, expected: str | None
) -> None:
    chosen = catalogue.match_choice(reply, product_offer)
    assert (chosen.id if chosen else None) == expected


@pytest.mark.parametrize(
    "case, reply, expected",
    [
        (Case("logistics", problem="快递没动"), "催一下快递", "chase_courier"),
        (Case("logistics", problem="快递没动"), "给我优惠券", "coupon"),
        (Case("logistics", problem="快递没动"), "券", "coupon"),
        (Case("logistics", problem="快递没动"), "退款吧 不等了", "refund"),
        (Case("logistics", problem="快递丢了"), "补发", "reship"),
        (Case("logistics", problem="快递丢了"), "重新发一个", "reship"),
        (Case("service", problem="客服不回"), "让人给我回电", "callback"),
        (Case("service", problem="客服不回"), "打电话给我", "callback"),
        (Case("service", problem="客服不回"), "找你们主管", "supervisor_review"),
        (Case("service", problem="客服不回"), "主管复核", "supervisor_review"),
        (Case("service", problem="客服不回"), "人工复核", "human_review"),
        (Case("service", problem="客服不回"), "复核", None),  # 主管复核 or 人工复核
        (Case("service", problem="客服不回"), "补偿优惠券", "goodwill_coupon"),
        (Case("service", problem="說好的退款一直沒人管"), "加急", "expedite"),
        (Case("malicious", problem="不给500就差评"), "走平台流程", "platform_process"),
        (Case("malicious", problem="不给500就差评"), "上传照片核实", "verify_evidence"),
        (
            Case(
                "product",
                problem="手机坏了",
                order_amount=800,
                demanded_amount=300,
                desired_outcome="compensation",
            ),
            "按我的要求赔偿",
            "demanded_compensation",
        ),
        (
            Case(
                "product",
                problem="手机坏了",
                order_amount=800,
                demanded_amount=300,
                desired_outcome="compensation",
            ),
            "第一个",
            "demanded_compensation",
        ),
    ],
)
def test_match_choice_other_types(catalogue: Catalogue, case: Case, reply: str, expected: str | None) -> None:
    chosen = catalogue.match_choice(reply, catalogue.options_for(case))
    assert (chosen.id if chosen else None) == expected


def test_match_choice_with_nothing_offered(catalogue: Catalogue) -> None:
    assert catalogue.match_choice("1", []) is None


def test_match_choice_with_two_options_and_last(catalogue: Catalogue) -> None:
    offer = catalogue.options_for(
        Case("product", problem="不喜欢", days_since_receipt=30),
        include_human_review=False,
    )
    assert ids(offer) == ["quality_inspection", "usage_help"]
    assert catalogue.match_choice("后者", offer) == offer[1]
    assert catalogue.match_choice("前者", offer) == offer[0]
    assert catalogue.match_choice("最后一个", offer) == offer[1]
    assert catalogue.match_choice("3", offer) is None


# --------------------------------------------------------------------------------------------
# Reading what the customer wants


@pytest.mark.parametrize(
    "text, outcome, amount",
    [
        ("我要换个新的", "exchange", None),
        ("换货", "exchange", None),
        ("退钱", "refund", None),
        ("我要退款", "refund", None),
        ("退货退款", "return", None),
        ("不想要了", "return", None),
        ("给我修一下", "repair", None),
        ("把少的配件补发过来", "reship", None),
        ("给个说法", "explanation", None),
        ("要一个说法", "explanation", None),
        ("让他给我道歉", "apology", None),
        ("给我回个电话", "callback", None),
        ("赶紧发货", "chase", None),
        ("找你们领导来", "supervisor", None),
        ("退一部分钱就行", "partial_refund", None),
        ("赔我500", "compensation", 500.0),
        ("赔偿三百块", "compensation", 300.0),
        ("三百块", "compensation", 300.0),
        ("500元", "compensation", 500.0),
        ("¥88", "compensation", 88.0),
        ("最少赔我一千五", "compensation", 1500.0),
        ("赔我两千", "compensation", 2000.0),
        ("补偿五十块钱", "compensation", 50.0),
        ("要200块补偿", "compensation", 200.0),
        ("不给500就差评", "compensation", 500.0),
        ("给我补偿１０００", "compensation", 1000.0),
        ("賠我五百", "compensation", 500.0),
        ("退一赔三", "compensation", None),
        ("假一赔十", "compensation", None),
        ("要求三倍赔偿", "compensation", None),
        ("退款 再赔我100", "refund", 100.0),
        ("不要退款，换个新的", "exchange", None),
        ("不用赔偿 换一个就行", "exchange", None),
        ("花了300块 质量这么差", None, None),
        ("等了3天了", None, None),
        ("", None, None),
        ("你好", None, None),
    ],
)
def test_outcome_from_text(catalogue: Catalogue, text: str, outcome: str | None, amount: float | None) -> None:
    assert catalogue.outcome_from_text(text) == (outcome, amount)


@pytest.mark.parametrize(
    "text, amount",
    [
        ("赔五", None),
        ("补偿一下", None),
        ("给我3天时间", None),
        ("要两个", None),
        ("给5星", None),
        ("赔我五块", 5.0),
    ],
)
def test_demanded_amount_needs_money(text: str, amount: float | None) -> None:
    assert demanded_amount_from_text(text) == amount


def test_the_shipped_catalogue_reads_wishes_with_the_language_vocabulary(catalogue: Catalogue) -> None:
    from bot.language.replies import outcome_vocabulary

    assert catalogue.outcomes == {k: label for k, (label, _) in outcome_vocabulary().items()}


def test_outcomes_round_trip_into_options(catalogue: Catalogue) -> None:
    outcome, amount = catalogue.outcome_from_text("我要换个新的")
    case = Case("product", problem="杯子裂了", desired_outcome=outcome, demanded_amount=amount)
    assert catalogue.options_for(case)[0].id == "exchange"
    assert set(catalogue.outcomes) >= {
        "refund",
        "return",
        "exchange",
        "repair",
        "reship",
        "compensation",
        "apology",
        "callback",
    }


# --------------------------------------------------------------------------------------------
# Case checks and unknown inputs


@pytest.mark.parametrize(
    "kwargs",
    [
        {"complaint_type": "price"},
        {"complaint_type": "product", "urgency": "high"},
        {"complaint_type": "product", "demanded_amount": -1},
        {"complaint_type": "product", "order_amount": float("nan")},
        {"complaint_type": "product", "days_since_receipt": -1},
        {"complaint_type": "product", "days_since_receipt": 1.5},
    ],
)
def test_case_rejects_bad_facts(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Case(**kwargs)


def test_unknown_desired_outcome_is_an_error(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match="desired outcome"):
        catalogue.options_for(Case("product", desired_outcome="lottery"))


@pytest.mark.parametrize(
    "name, category",
    [
        ("家电", "appliances"),
        ("appliances", "appliances"),
        ("電子產品", "electronics"),
        ("火箭", None),
        (None, None),
    ],
)
def test_resolve_category(catalogue: Catalogue, name: str | None, category: str | None) -> None:
    assert catalogue.resolve_category(name) == category


def test_default_catalogue_is_the_shipped_file() -> None:
    assert default_catalogue() is default_catalogue()
    assert default_catalogue().source == str(DEFAULT_PATH)
    assert default_catalogue().option_ids("service")[:2] == [
        "callback",
        "supervisor_review",
    ]


# --------------------------------------------------------------------------------------------
# Config validation


def _raw() -> dict[str, Any]:
    return copy.deepcopy(_shipped())


def _write(tmp_path: Path, raw: Any, name: str = "options.yml") -> Path:
    path = tmp_path / name
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(
        yaml.dump(raw, Dumper=dumper, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return path


def _option(raw: dict[str, Any], complaint_type: str, option_id: str) -> dict[str, Any]:
    return next(o for o in raw["options"][complaint_type] if o["id"] == option_id)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[int(last) if isinstance(node, list) else last]

    return mutate


def _add_option(complaint_type: str, option: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        raw["options"][complaint_type].append(option)

    return mutate


_GOOD = {
    "id": "extra",
    "label": "额外",
    "description": "我们在{hours}小时内处理。",
    "by_when_hours": 24,
    "conditions": {"requires": ["always"]},
}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (_set("options.price", [dict(_GOOD)]), "unknown complaint type"),
        (_delete("options.service"), "no options for complaint type.*service"),
        (_set("options.service", []), "non-empty list"),
        (_delete("options.product.0.label"), r"options\.product\.0\.label: field required"),
        (_delete("options.product.0.description"), r"options\.product\.0\.description: field required"),
        (_delete("options.product.0.conditions"), r"options\.product\.0\.conditions: field required"),
        (_delete("options.logistics.0.by_when_hours"), "by_when_hours"),
        (_set("options.product.0.conditions", {}), "no conditions"),
        (_set("options.product.0.conditions", {"requires": []}), "no conditions"),
        (
            _set("options.product.0.conditions", {"requires": ["sunny"]}),
            "unknown fact.*sunny",
        ),
        (_set("options.product.0.conditions", {"when": ["always"]}), r"conditions\.when: extra fields not permitted"),
        (_set("options.product.0.by_when_hour", 5), r"options\.product\.0\.by_when_hour: extra fields not permitted"),
        (_set("options.product.0.outcomes", ["lottery"]), "unknown outcome"),
        (_set("options.product.0.id", "退货"), "lower-case ascii"),
        (_set("options.product.0.label", "一二三四五六七八九"), "longer than 8"),
        (_set("options.product.0.description", "我们尽快退款。"), "by when"),
        (
            _set("options.product.0.description", "我们{hours}小时内退款。然后通知您。"),
            "one plain sentence",
        ),
        (
            _set("options.product.0.description", "我们{hours}小时内退款"),
            "one plain sentence",
        ),
        (
            _set("options.product.0.description", "{hours}小时内退{money}元。"),
            "unknown placeholder",
        ),
        (
            _set("options.product.0.description", "{hours}小时内退{amount}元。"),
            "without a value",
        ),
        (
            _set("options.product.0.description", "{hours小时内。"),
            "malformed placeholder",
        ),
        (_set("options.product.0.by_when_hours", -1), r"by_when_hours: ensure this value is greater than 0"),
        (_set("options.product.0.by_when_hours", "soon"), "expected a number"),
        (
            _add_option("product", {**_GOOD, "id": "return_refund"}),
            "duplicate option id",
        ),
        (_add_option("product", {**_GOOD, "id": "human_review"}), "reserved"),
        (
            _add_option(
                "malicious",
                {
                    **_GOOD,
                    "description": "{hours}小时内发{amount}元券。",
                    "compensation": {"fixed": 5},
                },
            ),
            "malicious cases get no compensation",
        ),
        (
            _add_option(
                "service",
                {
                    **_GOOD,
                    "description": "{hours}小时内发{amount}元券。",
                    "compensation": {"fixed": 800},
                },
            ),
            "exceed authority.bot_max",
        ),
        (
            _set("options.product.7.compensation", {"fixed": 5, "share_of_order": 0.5}),
            "either `fixed`",
        ),
        (
            _set("options.product.7.compensation", {"share_of_order": 0.3}),
            "missing field",
        ),
        (
            _set(
                "options.product.7.compensation",
                {"share_of_order": 1.5, "cap": 10, "when_order_unknown": 5},
            ),
            "at most 1",
        ),
        (
            _set("demanded_compensation.rules.malicious", [{"max_amount": 10}]),
            "never offered in a malicious case",
        ),
        (
            _set("demanded_compensation.rules.price", [{"max_amount": 10}]),
            "unknown complaint type",
        ),
        (
            _set("demanded_compensation.rules.service", [{"requires": ["always"]}]),
            "needs a cap",
        ),
        (
            _delete("demanded_compensation.description_with_approval"),
            "description_with_approval",
        ),
        (_set("human_review.conditions", {"requires": ["always"]}), "always offered"),
        (_delete("human_review.label"), r"human_review\.label: field required"),
        (_set("authority.manager_max", 500), "must be above bot_max"),
        (_set("authority.bot_max", 0), r"authority\.bot_max: ensure this value is greater than 0"),
        (
            _delete("authority.approval_hours.headquarters"),
            r"authority\.approval_hours: missing field\(s\) headquarters",
        ),
        (_set("authority.approvers", {"manager": "经理"}), r"authority\.approvers: extra fields not permitted"),
        (_set("no_reason_return.window_days", 0), "positive whole number"),
        (_set("no_reason_return.window_days", 7.5), "positive whole number"),
        (
            _set(
                "no_reason_return.exclusions.perishable",
                {"label": "x", "explanation": "y"},
            ),
            "needs categories or keywords",
        ),
        (
            _set(
                "no_reason_return.exclusions.always",
                {"label": "x", "explanation": "y", "keywords": ["z"]},
            ),
            "built-in fact",
        ),
        (_set("facts.repairable", {"categories": ["spaceships"]}), "unknown categor"),
        (_set("facts.quality_defect", {"keywords": ["坏"]}), "clashes"),
        (_set("no_compensation_facts", ["sunny"]), "unknown fact"),
        (_set("outcomes", {"refund": {"label": "退款", "keywords": []}}), "non-empty list"),
        (_set("outcomes", {"refund": {"label": "退款", "keywords": ["退款"]}}), "unknown outcome"),
        (_set("colour", "blue"), r"options\.yml: colour: extra fields not permitted"),
        (_delete("options.logistics.3.conditions.requires"), "no conditions"),
    ],
)
def test_broken_configs_are_rejected(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    raw = _raw()
    mutate(raw)
    with pytest.raises(ValueError, match=message):
        load_catalogue(_write(tmp_path, raw))


@pytest.mark.parametrize("content", ["options: [unclosed", "- just\n- a list\n", "", "42"])
def test_not_a_catalogue_at_all(tmp_path: Path, content: str) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="broken.yml"):
        load_catalogue(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_catalogue(tmp_path / "nope.yml")


def test_error_names_the_place(tmp_path: Path) -> None:
    raw = _raw()
    _option(raw, "logistics", "refund")["conditions"] = {"requires": ["sunny"]}
    with pytest.raises(ValueError) as info:
        load_catalogue(_write(tmp_path, raw))
    assert "options.yml: options.logistics.3.conditions: unknown fact(s) sunny" in str(info.value)


def test_shipped_config_round_trips(tmp_path: Path) -> None:
    reloaded = load_catalogue(_write(tmp_path, _raw()))
    case = Case("product", problem="电饭煲坏了", product_category="appliances", order_amount=299)
    assert reloaded.options_for(case) == load_catalogue().options_for(case)


def test_a_wrong_item_is_the_sellers_mistake(catalogue: Catalogue) -> None:
    """拍的是蓝色的杯子，寄来的是红色的: exchange or return with the seller paying both ways, no usage guidance."""
    options = catalogue.options_for(Case("product", cause="wrong_item", problem="拍的是蓝色的杯子，寄来的是红色的"))
    ids = [o.id for o in options]
    assert ids[:2] == ["exchange_wrong_item", "return_wrong_item"]
    assert not {"usage_help", "quality_inspection", "return_refund_no_reason", "exchange_no_reason"} & set(ids)
    assert all("由您承担" not in o.description for o in options)
    assert "来回运费我们承担" in options[0].description


def test_a_wrong_courier_gets_a_refund_or_the_right_courier(catalogue: Catalogue) -> None:
    ids = [o.id for o in catalogue.options_for(Case("logistics", cause="wrong_courier", desired_outcome="refund"))]
    assert ids[0] == "refund" and "reship_right_courier" in ids and "chase_courier" not in ids


def test_a_wish_for_speed_puts_the_quickest_fitting_option_first(catalogue: Catalogue) -> None:
    case = Case("product", cause="defect", product_category="electronics", problem="打印机卡纸", desired_outcome="fast")
    options = catalogue.options_for(case)
    assert options[0].id == "repair" and options[0].by_when_hours == 24


def test_unknown_causes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown cause"):
        Case("product", cause="bad_vibes")
