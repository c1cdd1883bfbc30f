"""scan_logs (bot/privacy.py): finds unmasked personal data in log files, with file:line and a masked excerpt."""

from __future__ import annotations

from pathlib import Path

from bot.privacy import mask_pii, scan_logs


def test_scan_finds_each_kind_with_file_line_and_a_masked_excerpt(tmp_path: Path) -> None:
    log = tmp_path / "rasa.log"
    lines = [
        "2026-11-30 INFO turn ok",
        "user said 我的电话是13812345678",
        'payload {"text": "\\u4e0a\\u6d77\\u5e02\\u6d66\\u4e1c\\u65b0\\u533a\\u5f20\\u6c5f\\u8def88\\u53f7"}',
        "id 11010519491231002X",
        "GET /api/tickets?token=s3cret-value",
        "masked already: 138****5678 110105************ 上海*** z***@qq.com ?token=***",
    ]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "a.jpg").write_bytes(b"13812345678")  # not a log: skipped
    findings = scan_logs([tmp_path])
    assert [(f.line, f.kinds) for f in findings] == [
        (2, ("mobile",)),
        (3, ("address",)),
        (4, ("id_number",)),
        (5, ("token",)),
    ]
    assert all(f.path == str(log) for f in findings)
    text = "\n".join(str(f) for f in findings)
    assert "13812345678" not in text and "11010519491231002X" not in text and "s3cret" not in text
    assert f"{log}:2: mobile: " in text


def test_clean_logs_and_missing_paths_give_nothing(tmp_path: Path) -> None:
    log = tmp_path / "actions.log"
    log.write_text(
        mask_pii("电话13812345678 地址上海市浦东新区张江路88号3栋") + "\n\xff\n",
        encoding="utf-8",
        errors="surrogateescape",
    )
    assert scan_logs([log, tmp_path / "missing.log"]) == []


def test_digits_inside_a_hex_signature_are_not_a_phone_number(tmp_path: Path) -> None:
    """The soak's only "findings": 11-digit runs inside WeChat signatures in nginx's error log."""
    log = tmp_path / "error.log"
    log.write_text(
        'request: "POST /webhooks/wechat/webhook?signature=6c795cd3d3e8c63e944bcafa2a13916961696e9f HTTP/1.1"\n'
        "buyer tb13812345678 wrote\n",
        encoding="utf-8",
    )
    findings = scan_logs([log])
    assert [(f.line, f.kinds) for f in findings] == [(2, ("mobile",))]
