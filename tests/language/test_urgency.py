import pytest

from bot.language.normalize import normalize_text
from bot.language.urgency import detect_urgency, top_urgency


@pytest.mark.parametrize(
    "text, expected",
    [
        # safety, including worries and Traditional characters
        ("孩子吃了拉肚子", "safety"),
        ("充电的时候突然冒烟了 吓死我了", "safety"),
        ("吹风机用着用着漏电 手都麻了", "safety"),
        ("吃完上吐下泻 现在在医院挂水", "safety"),
        ("面霜用了一次脸就过敏了 又红又肿", "safety"),
        ("宝宝把玩具上掉下来的小零件吞下去了", "safety"),
        ("会不会过敏啊 脸有点痒", "safety"),
        ("米饭里吃出一根铁丝", "safety"),
        ("不小心被锅边割伤了", "safety"),
        ("電池鼓包了 還發燙", "safety"),
        ("吃的时候发现是过期的", "safety"),
        # negated: no trigger
        ("没有受伤 就是东西坏了", None),
        ("人没受伤 但是箱子全压扁了", None),
        ("还好没吃 不然就麻烦了", None),
        ("受伤倒没有 就是很生气", None),
        ("我气炸了 等了三天还没发货", None),
        ("头发太多了 太恶心", None),
        # media / legal
        ("再不处理我就打12315", "media_legal"),
        ("我要找记者曝光你们", "media_legal"),
        ("已经在走法律程序了", "media_legal"),
        ("去其他平台投诉你们", "media_legal"),
        ("退到我工商银行卡就行", None),
        ("订单号31512345678", None),
        ("告诉你们一声 我已经收到了", None),
        ("120块钱的东西", None),
        # vulnerable
        ("给家里八十多岁的老人买的 他下不了楼", "vulnerable"),
        ("我是孕妇 闻不了这个味", "vulnerable"),
        ("新生儿的奶粉急用 到现在还没发", "vulnerable"),
        ("其他宝宝们买的也这样吗", None),
        # priority: safety over media_legal over vulnerable
        ("老人吃了拉肚子 我要打12315", "safety"),
        ("老人家的订单 不处理就曝光", "media_legal"),
    ],
)
def test_top_urgency(text: str, expected: str | None) -> None:
    assert top_urgency(normalize_text(text)) == expected


def test_hits_carry_positions_and_all_levels() -> None:
    text = "老人吃了拉肚子 我要打12315"
    hits = detect_urgency(text)
    assert [h.level for h in hits][:1] == ["safety"]
    assert {h.level for h in hits} == {"safety", "media_legal", "vulnerable"}
    for hit in hits:
        assert text[hit.start : hit.end] == hit.trigger


def test_negation_does_not_cross_clauses() -> None:
    # "没有" belongs to the first clause; the injury in the second one counts.
    assert top_urgency("快递没有送上门，搬的时候砸伤了脚") == "safety"


def test_empty_text() -> None:
    assert detect_urgency("") == []


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("新买的插线板插上没两分钟就起火了", "safety"),  # "没两分钟" negates a duration, not the fire
        ("宝宝刚喝没几口就吐了，小脸都白了", "safety"),
        ("用了没几天就漏电，手被电了一下", "safety"),
        ("第一次用完头皮痒得受不了", "safety"),
        ("阿公歲數大了，電熱毯壞掉了", "vulnerable"),  # Traditional, Taiwan usage
        ("求各位帮忙转发，让大家看看这家店", "media_legal"),
    ],
)
def test_urgency_kinds_found_on_real_messages(text: str, level: str) -> None:
    from bot.language.normalize import normalize_text

    assert [h.level for h in detect_urgency(normalize_text(text))][:1] == [level]


@pytest.mark.parametrize("text", ["心疼我买的东西", "这事真让人头疼", "多媒体播放不了", "没有受伤 就是坏了"])
def test_words_that_only_look_urgent(text: str) -> None:
    assert detect_urgency(text) == []


def test_urgency_reads_the_end_of_a_very_long_message() -> None:
    from bot.language.normalize import normalize_text

    rant = "快递一直不更新，" * 180 + "孩子用这个暖手宝，手被烫伤起了水泡"
    assert len(rant) > 1400
    assert "safety" in {h.level for h in detect_urgency(normalize_text(rant))}


# Kinds read on real messages (our own sentences, one per kind): the urgent one and the
# look-alike that must stay quiet next to it.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # itching and rashes after using a product
        ("这款沐浴露用完后背一直痒", "safety"),
        ("换了这个面霜脸上长了好多小疙瘩", "safety"),
        ("广告说能止痒，其实没什么用", None),
        ("客服的回复无关痛痒", None),
        # feeling unwell after eating, or worrying about it
        ("昨天的卤味吃了以后一直不舒服", "safety"),
        ("喝完这杯果汁感觉身体不适", "safety"),
        ("万一吃出毛病谁来负责", "safety"),
        ("这条裤子穿着不舒服，腰太紧", None),
        ("等了两个小时，心里很不舒服", None),
        ("这个杯子太小，不适合带去办公室", None),
        # diarrhoea in its colloquial and split forms
        ("晚饭吃了这家的凉皮，半夜闹肚子", "safety"),
        ("喝了一杯奶茶，拉了一整晚的肚子", "safety"),
        ("吃完跑了五趟厕所", "safety"),
        ("师傅上门帮我拉了一条网线", None),
        ("客服说他去上厕所了，半天不回", None),
        # vomiting needs eating, a child or a symptom; the exclamation does not count
        ("吃完半小时就开始想吐，头也晕", "safety"),
        ("孩子喝了两口汤就吐了", "safety"),
        ("我真的吐了，三天还没发货", None),
        ("这包装看着都想吐", None),
        ("咬了一口就吐了，太咸了", None),
        ("我都不想吐槽了", None),
        # pain with words in between, or without a body part
        ("吃完以后肚子还是一阵一阵地痛", "safety"),
        ("疼得一晚上没睡着", "safety"),
        ("衣服味道很冲，熏得我头疼", "safety"),
        ("刚买就降价一百，肉疼", None),
        ("肚子饿得难受，外卖还没到", None),
        # medicine and medical care
        ("为这事我买了三十块钱的药", "safety"),
        ("药费谁来出", "safety"),
        ("去门诊开了点药", "safety"),
        ("我买的药还没送到，能催一下吗", None),
        ("苹果有股农药味", None),
        ("医院附近信号特别差", None),
        # injury words need a person: goods get scratched too
        ("开罐头的时候手指被盖子划破了", "safety"),
        ("床板上的螺丝扎到孩子的脚", "safety"),
        ("屏幕到手就有两道划伤", None),
        ("箱子里的苹果好几个破皮了", None),
        ("看到这样的服务，心都受伤了", None),
        # hard or sharp things that went into the mouth
        ("饭里有颗石子，把我牙齿硌裂了", "safety"),
        ("包子里吃出一截铁片", "safety"),
        ("差点没扎破我的嘴", "safety"),
        ("这饼硬得硌牙，一点都不酥", None),
        ("蓝牙老是断开", None),
        ("吃完那个果冻嘴唇发麻", "safety"),
        ("麻辣香锅辣得嘴都麻了", None),
        # devices that burn, not food that is burnt or hyperbole
        ("充电宝烫得拿不住，怕它会炸", "safety"),
        ("插座冒烟了还有焦糊味", "safety"),
        ("红烧肉烧焦了，一股焦糊味", None),
        ("等了三个小时，我都要炸了", None),
        # a casing that burst, named in the clause before; blisters from a burn; not a film's bubbles
        ("我家孩子用你们的暖手宝，刚才外壳突然炸开把手烫出水泡了", "safety"),
        ("玻璃杯倒热水一下子炸裂了", "safety"),
        ("盖子直接爆开了，汤洒了一地", "safety"),
        ("手背烫了个泡", "safety"),
        ("我真是气得要炸开了", None),
        ("手机贴膜起泡了", None),
        ("墙漆起泡了，颜色也不对", None),
        ("这价格真是便宜到爆炸", None),
        ("笔记本用久了有点烫手", None),
        ("充电到百分之八十就不动了", None),
        ("又被电信多扣了话费", None),
        ("优惠券被系统吞了", None),
        # a denial earlier in the message does not hide a trigger inside a longer match
        ("不是正品，用了之后头皮发痒", "safety"),
        ("肉没熟吃了就拉肚子", "safety"),
        # regulators by other names, making it public; not 告诉, the company's departments
        ("再不退款我就找市场监督管理局", "media_legal"),
        ("这事我已经反映到卫生监督所了", "media_legal"),
        ("你们不处理，微博抖音见", "media_legal"),
        ("我要让更多人知道你们店怎么对顾客", "media_legal"),
        ("我告诉你们，地址写错了", None),
        ("客服说会转给相关部门处理", None),
        ("当晚报修，第二天师傅才来", None),
        ("我在别的平台买过，比这便宜", None),
        ("这东西我是在抖音上看到的", None),
        ("我发朋友圈晒了一下新手机", None),
        ("说是能维权，结果等了半个月", None),
        # vulnerable customers, not the style of a product or a figure of speech
        ("我老婆刚生完孩子，这个汤是给她喝的", "vulnerable"),
        ("我是孕妇，这个能吃吗", "vulnerable"),
        ("我爸瘫痪在床，东西得送上楼", "vulnerable"),
        ("这衣服像老年人穿的", None),
        ("这手机卡得跟老人机一样", None),
        ("橙子只有婴儿拳头那么大", None),
        ("家里网络又瘫痪了", None),
        ("孕妇可以吃吗", None),
        ("我感冒生病了，外卖还迟到", None),
    ],
)
def test_urgency_kinds_and_their_look_alikes(text: str, expected: str | None) -> None:
    assert top_urgency(normalize_text(text)) == expected


def test_look_alike_drops_only_the_trigger_it_covers() -> None:
    # "转发微博" is a share button, but the regulator in the same message still counts
    assert top_urgency(normalize_text("转发微博 这事我已经打了12315")) == "media_legal"
    # "老人机" is a kind of phone; the elderly customer in the next clause is not
    assert top_urgency(normalize_text("买的老人机，给我七十多岁的奶奶用")) == "vulnerable"
