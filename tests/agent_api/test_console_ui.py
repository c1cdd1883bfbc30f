"""The agents' console (/console/) and the shop's dashboard (/console/dashboard) in a real browser.

Debian's Chromium through Playwright against the session's bot: a safety complaint typed in the
web chat widget appears in the console by itself (server-sent events), the agent claims it and
replies, the reply appears in the customer's widget, and resolving hands the conversation back to
the bot, which asks for a score. The dashboard draws its charts (SVG from the server) and exports
a table. Screenshots go to reports/screenshots/console-*.png and dashboard.png (copied to
docs/screenshots/ when the screens change).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from bot.agent_api.console_ui import STATIC_DIR, STATIC_FILES, ConsoleUi
from tests.channels.test_webchat import Chat, wait_online
from tools.devstack import ROOT, http_request

SCREENSHOTS = ROOT / "reports" / "screenshots"
AGENT = "客服小周"
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]")


def test_the_channel_serves_its_files_only() -> None:
    channel = ConsoleUi.from_credentials({})
    assert channel.name() == "console_ui" and channel.url_prefix() == "/console"
    assert sorted(p.name for p in STATIC_DIR.iterdir()) == sorted(STATIC_FILES)
    for name in STATIC_FILES:
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://|//cdn", text), f"{name} reaches outside"
        assert not EMOJI.search(text), f"{name} has an emoji (no emoji font on the machine)"


def test_the_pages_are_served(bot: Any) -> None:
    for path, marker in (("/console/", "客服工作台"), ("/console", "客服工作台"), ("/console/dashboard", "投诉看板")):
        status, headers, body = http_request("GET", bot.base + path, None)
        assert status == 200 and marker.encode() in body, (path, status)
    assert http_request("GET", bot.base + "/console/../credentials.yml", None)[0] == 404
    assert http_request("GET", bot.base + "/console/nothing.js", None)[0] == 404


def login(page: Any, bot: Any, name: str = AGENT) -> None:
    page.fill("#login-name", name)
    page.fill("#login-token", bot.token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


def wait_for(check: Any, timeout: float = 20, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.2)


def test_a_safety_complaint_goes_from_the_widget_to_the_console_and_back(bot: Any, browser: Any) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    customer_context = browser.new_context(viewport={"width": 420, "height": 780}, locale="zh-CN")
    customer = customer_context.new_page()
    customer.on("pageerror", lambda e: errors.append(str(e)))
    customer.goto(bot.base + "/webhooks/webchat/")
    customer.click(".tsw-btn")
    customer.wait_for_selector(".tsw-panel.tsw-open")
    wait_online(customer)
    session_id = customer.evaluate("JSON.parse(localStorage.getItem('tsWebChat.session'))")
    sender = f"webchat:{session_id}"

    agent_context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    console = agent_context.new_page()
    console.on("pageerror", lambda e: errors.append(str(e)))
    console.goto(bot.base + "/console/")
    login(console, bot)
    wait_for(lambda: console.locator("#live").inner_text() == "实时", what="the live stream connects")

    chat = Chat(customer)
    replies = chat.say("宝宝用了你们的安抚奶嘴以后嘴里起了好多红疹子，还一直哭")
    assert any("转接" in r for r in replies), replies

    # the case appears in the console by itself, with its countdown
    item = console.locator(f'.case-item[data-sender="{sender}"]')
    item.wait_for(timeout=15_000)
    assert "P1" in item.inner_text() and re.search(r"剩 \d+:\d\d", item.inner_text()), item.inner_text()
    console.screenshot(path=str(SCREENSHOTS / "console-queue.png"))

    # open it with the keyboard, claim it with "c"
    item.focus()
    console.keyboard.press("Enter")
    console.wait_for_selector("#claim")
    assert "宝宝用了你们的安抚奶嘴" in console.locator("#transcript").inner_text()
    console.keyboard.press("c")
    console.wait_for_selector("#reply-text")

    # the reply reaches the customer's widget
    before = len(chat.bot_texts())
    console.fill("#reply-text", "您好，我是客服小周，请先停用奶嘴，我们马上联系您安排就医费用。")
    console.press("#reply-text", "Enter")
    arrived = chat.wait_settled(before, timeout=15)
    assert "客服小周" in arrived[-1], arrived
    wait_for(lambda: "客服小周" in console.locator("#transcript").inner_text(), what="the reply in the transcript")

    # the customer's answer appears in the open case by itself
    customer.fill(".tsw-input", "好的 谢谢")
    customer.press(".tsw-input", "Enter")
    wait_for(lambda: "好的 谢谢" in console.locator("#transcript").inner_text(), what="the customer's answer")
    console.screenshot(path=str(SCREENSHOTS / "console-case.png"))

    # resolve: the bot takes over again and asks for a score
    before = len(chat.bot_texts())
    console.once("dialog", lambda dialog: dialog.accept("已安排退款和就医费用"))
    console.click("#resolve")
    asked = chat.wait_settled(before, timeout=15)
    assert any(re.search("1.{0,3}5|满意", r) for r in asked), asked
    wait_for(lambda: console.locator(f'.case-item[data-sender="{sender}"]').count() == 0, what="the case leaves")
    assert not errors, errors
    customer_context.close()
    agent_context.close()


def test_the_dashboard_draws_charts_and_exports_csv(bot: Any, browser: Any) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    bot.say(f"dash-{time.time_ns()}", "买的台灯收到就是坏的，灯罩裂了")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(bot.base + "/console/dashboard")
    login(page, bot, "店长")
    page.wait_for_selector("#kpis .kpi")
    page.wait_for_selector("#panel-type_day img[src^='blob:']", timeout=20_000)
    width = page.evaluate("document.querySelector('#panel-type_day img').naturalWidth")
    assert width > 100, "the heat map SVG did not render"
    text = page.locator("#app").inner_text()
    for title in ("投诉热力图", "SLA", "满意度", "重复投诉", "质检", "承诺"):
        assert title in text, f"no {title} panel"
    with page.expect_download() as download:
        page.locator("#panel-type_day button").click()
    content = download.value.path().read_bytes().decode("utf-8-sig")
    assert "," in content.splitlines()[0]
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    assert not errors, errors
    context.close()


@pytest.mark.parametrize("page_path", ["/console/", "/console/dashboard"])
def test_a_wrong_token_is_refused_in_chinese(bot: Any, browser: Any, page_path: str) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(bot.base + page_path)
    page.fill("#login-name", AGENT)
    page.fill("#login-token", "wrong-token")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-message.error")
    assert "令牌" in page.locator("#login-message").inner_text()
    context.close()
