from bot.nlu.normalize import normalize_text, to_half_width


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
