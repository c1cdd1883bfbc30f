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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/::( 快递五天了还没到", "快递五天了还没到"),
        ("／::(快递没到[流泪][流泪]", "快递没到"),
        ("谢谢[Facepalm]", "谢谢"),
        ("[图片] http://x.cn/a.png", "[图片] http://x.cn/a.png"),
    ],
)
def test_emoticon_codes_are_emotion_not_content(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_traditional_taiwan_and_cantonese_read_like_simplified() -> None:
    assert normalize_text("阿公歲數大了，電熱毯壞掉了") == "阿公岁数大了,电热毯坏掉了"
    assert normalize_text("貨到了沒") == "货到了没"
    assert normalize_text("冇人理，佢哋唔覆") == "没人理,他们不覆"
    assert normalize_text("軟體閃退") == "软件闪退"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("订单号是二零二六一一二九零零四四七七一二", "订单号是2026112900447712"),
        ("单号幺三五七九二四六八零", "单号1357924680"),
        ("尾号是 四四 零九", "尾号是 4409"),
        ("三四个人", "三四个人"),
        ("一一对应", "一一对应"),
    ],
)
def test_numbers_read_aloud_become_digits(text: str, expected: str) -> None:
    assert normalize_text(text) == expected
