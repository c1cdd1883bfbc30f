import logging

from bot.masking import PiiMaskingFilter, mask_pii


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
