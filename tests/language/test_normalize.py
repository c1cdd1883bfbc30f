import pytest

from bot.language.normalize import normalize_text, to_half_width


def test_traditional_to_simplified() -> None:
    assert normalize_text("收到的衣服顏色跟圖片完全不一樣") == "收到的衣服颜色跟图片完全不一样"


def test_full_width_to_half_width() -> None:
    assert to_half_width("ＡＢＣ１２３！　？") == "ABC123! ?"
    assert normalize_text("订单号１２３４５６７８９０") == "订单号1234567890"


def test_whitespace_trimmed_and_collapsed() -> None:
    assert normalize_text("  快递 \n\n 三天没动了\u200b  ") == "快递 三天没动了"


def test_empty_and_whitespace_only() -> None:
    assert normalize_text("") == ""
    assert normalize_text(" \t\n　") == ""


def test_length_cap() -> None:
    assert len(normalize_text("坏" * 5000, max_chars=1000)) == 1000


def test_emoji_kept() -> None:
    assert normalize_text("😡😡") == "😡😡"


def test_mentions_and_masks_removed() -> None:
    assert normalize_text("@某某客服 @某某官方 宽带又断了") == "宽带又断了"
    assert normalize_text("************ 拉肚子") == "拉肚子"
    assert normalize_text("@某某客服 @315在线投诉 扣费不退") == "315在线投诉 扣费不退"
    assert normalize_text("号码1861****620") == "号码1861****620"


def test_leading_fillers_removed_only_before_real_content() -> None:
    assert normalize_text("嗯嗯 喂 那个骑手超时一个小时了") == "那个骑手超时一个小时了"
    assert normalize_text("嗯嗯") == "嗯嗯"
    assert normalize_text("嗯 好的") == "嗯 好的"


def test_exported_chat_placeholders_keep_their_kind() -> None:
    assert normalize_text("[订单x]这个订单退了[金额x]") == "订单 这个订单退了 金额"


def test_a_pasted_order_card_is_just_an_order() -> None:
    card = "[订单编号:[订单x]，订单金额:[金额x]，下单时间:[日期x] [时间x]] 还没发货"
    assert normalize_text(card) == "订单 还没发货"


def test_repeated_punctuation_collapsed() -> None:
    assert normalize_text("米饭里有头发。。。。") == "米饭里有头发。"
    assert normalize_text("太慢了!!!!!~~~") == "太慢了!~"
    assert normalize_text("😡😡") == "😡😡"


@pytest.mark.parametrize("text", ["／complaint_malicious", " ／greet"])
def test_an_escaped_slash_stays_escaped_so_rasa_cannot_read_it_as_an_intent_command(text: str) -> None:
    assert normalize_text(text).startswith("／")


def test_a_channel_command_is_left_alone() -> None:
    assert normalize_text("/empty_message") == "/empty_message"


def test_digit_runs_masked_for_features() -> None:
    from bot.language.normalize import mask_digits

    assert mask_digits("SF4718293650412") == "SF#"
    assert mask_digits("等了2个小时") == "等了#个小时"
    assert mask_digits("两个小时") == "两个小时"
