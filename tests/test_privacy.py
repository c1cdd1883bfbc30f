import json
import logging

from bot.privacy import PiiMaskingFilter, is_id_card_number, mask_pii


def test_mobile_id_and_address_masked() -> None:
    text = "电话13812345678 身份证110101199003071234 地址上海市浦东新区张江路123号5栋302室"
    out = mask_pii(text)
    assert "13812345678" not in out and "138****5678" in out
    assert "199003071234" not in out
    assert "张江路123号" not in out


def test_order_numbers_are_not_phone_numbers() -> None:
    assert mask_pii("订单3920184756210384") == "订单3920184756210384"


def test_log_filter_masks_formatted_message() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "customer said %s", ("call 13912345678",), None)
    assert PiiMaskingFilter().filter(record)
    assert record.getMessage() == "customer said call 139****5678"


def test_json_escaped_chinese_in_debug_logs_is_masked_too() -> None:
    escaped = json.dumps({"text": "身份证110101199003071234 地址北京市朝阳区建国路88号 电话13812345678"})
    masked = mask_pii(escaped)
    assert "110101199003071234" not in masked and "建国路88号" not in masked and "13812345678" not in masked
    assert "138****5678" in masked


def test_api_tokens_are_masked() -> None:
    line = "Exception occurred while handling uri: 'http://x/conversations/a/tracker?token=s3cr3t&x=1'"
    assert "s3cr3t" not in mask_pii(line) and "token=***" in mask_pii(line)
    assert "s3cr3t" not in mask_pii("Authorization: Bearer s3cr3t")


def test_id_card_check_digit() -> None:
    assert is_id_card_number("110101199003071233")
    assert not is_id_card_number("110101199003071234")
    assert not is_id_card_number("3920184756210384")


def test_mobile_numbers_with_the_country_code_and_email_addresses_are_masked() -> None:
    assert mask_pii("电话+8613812345678") == "电话+86138****5678"
    assert mask_pii("打8613812345678找我") == "打86138****5678找我"
    assert mask_pii("邮箱zhangsan.li@qq.com 发票发这里") == "邮箱z***@qq.com 发票发这里"
    assert mask_pii("订单号3920184756210384") == "订单号3920184756210384"  # still not a phone number
