from bot.language.restate import MAX_CHARS, restate_problem


def test_short_complaint_is_restated_in_the_bots_voice() -> None:
    assert restate_problem("我要求发圆通你们发了天天", "logistics") == "您要求发圆通我们发了天天"


def test_fillers_and_stutters_removed() -> None:
    out = restate_problem("喂你好就是我那个我那个在你们家买的那个奶粉罐子打开里面结块了", "product")
    assert "那个" not in out and "喂" not in out and "您您" not in out
    assert "奶粉" in out and "结块" in out


def test_long_rant_is_cut_to_the_problem_clause() -> None:
    text = "我真的很生气，上周五下的单，今天终于到了，打开一看，屏幕碎了一大块，包装倒是挺好看的，以后再也不买了，太失望了，朋友都劝我别买"
    out = restate_problem(text, "product")
    assert len(out) <= MAX_CHARS
    assert "屏幕碎了" in out


def test_nothing_usable() -> None:
    assert restate_problem("😡😡😡", "product") == "您遇到的问题"
    assert restate_problem("", None) == "您遇到的问题"


def test_a_correction_is_restated_without_its_no() -> None:
    assert restate_problem("不是 是显示签收了但我根本没收到", "logistics") == "显示签收了但您根本没收到"


def test_a_dangling_question_word_is_dropped() -> None:
    assert restate_problem("快递五天了还没到 物流一直不更新 到底怎么回事", "logistics") == "快递五天了还没到，物流一直不更新"
