"""WeChat Official Account channel (公众号), built on ``wechatpy`` (SPEC.md section 9).

Registered in ``credentials.yml`` as ``bot.channels.wechat.WeChatInput``. The package, read in
the order a delivery travels:

* :mod:`.config`: settings from credentials.yml or ``WECHAT_*`` (pydantic), refusing to start
  without token, AppID and AppSecret;
* :mod:`.security`: signature and time window, defusedxml, the safe-mode envelope;
* :mod:`.inbound`: XML -> :class:`~.inbound.Inbound` (what the delivery means for the bot);
* :mod:`.api`: access token (Redis cache and ``Redis.lock``), customer-service send, errcodes,
  the 48-hour window;
* :mod:`.connector`: ``WeChatInput`` (routes, duplicates, background turns) and ``WeChatOutput``.

Redis keys (prefix ``wechat``): ``seen:*`` (deliveries, 1 hour), ``token:{appid}`` (the access
token), ``token-lock:{appid}``, ``closed:{openid}`` (48-hour window closed, 7 days or until the
customer writes).
"""

from bot.channels.wechat.config import WeChatConfig, WeChatConfigError
from bot.channels.wechat.connector import WeChatInput, WeChatOutput

__all__ = ["WeChatConfig", "WeChatConfigError", "WeChatInput", "WeChatOutput"]
