"""What the benchmark sends, where it writes, and the targets it checks (README, "Speed")."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "var" / "bench"
STARTER = BENCH / "starter"
LOGS = BENCH / "logs"
REPORTS = ROOT / "reports"
REST_PATH = "/webhooks/rest/webhook"
READY_LINE = "Rasa server is up and running"

# Targets (see the README): relative to the starter bot measured in the same run.
TARGET_THROUGHPUT_FACTOR = 2.0
TARGET_P99_MS = 150.0
TARGET_LONG_RATIO = 1.2

# ---- messages -------------------------------------------------------------------------------

# Short conversations the way customers write them: greeting, complaint of each type,
# confirmation, order number, thanks. A new sender id for each conversation.
OUR_CONVERSATIONS: list[list[str]] = [
    ["你好", "收到的电饭煲煮饭夹生 这才用了两次", "对", "订单号 4812345678901", "谢谢"],
    ["快递三天没动了 到底什么时候能到", "对的", "订单号是5120394857612", "好的谢谢"],
    ["在吗", "客服半天不回消息 问了三遍都没人理", "是的", "订单号 4812345678902", "谢谢你"],
    ["买的面膜用了脸上过敏起红疹", "对", "订单号 3920184756210384", "多久能处理好"],
    ["顺丰显示已签收但是我根本没收到", "不是 是快递员把东西扔在门口就走了", "订单号 4812345678903", "谢谢"],
    ["衣服洗一次就掉色了 质量太差", "嗯", "订单号 4812345678904", "好的 再见"],
    ["退款申请了一周还没到账 客服也不给说法", "对", "订单号 4812345678905", "谢谢"],
]
# One long conversation repeats this cycle. Its length is 7, so turn 1 and turn 50 carry the
# same message, and turns 1-7 and 50-56 the same mix of messages.
OUR_LONG_CYCLE: list[str] = [
    "你好",
    "快递三天没动了 到底什么时候能到",
    "对",
    "订单号 4812345678901",
    "还有 收到的杯子也是碎的",
    "是的",
    "谢谢",
]

STARTER_CONVERSATIONS: list[list[str]] = [
    ["hi", "I am feeling very sad", "yes", "bye"],
    ["hello there", "I am great", "goodbye"],
    ["hey", "not good", "no", "see you later"],
    ["good morning", "I am happy", "are you a bot?"],
    ["hey there", "unhappy", "of course", "bye"],
    ["hello", "my day was horrible", "yes", "good night"],
]
STARTER_LONG_CYCLE: list[str] = ["hi", "I am sad", "yes", "I am great", "are you a bot?", "no", "bye"]

LONG_TURNS = 60
IDLE_PROBE_S = 3.0  # how long to watch the idle machine for other people's jobs
BUSY_MACHINE_CORES = 0.2  # warn above this many cores used by other processes
EARLY_WINDOW = (1, 7)  # inclusive, 1-based turn numbers
LATE_WINDOW = (50, 56)
