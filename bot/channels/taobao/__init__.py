"""Taobao / Tmall channel: messages forwarded by the shop's Taobao integration (SPEC.md section 9).

Registered in ``credentials.yml`` as ``bot.channels.taobao.TaobaoInput``. The package, read in
the order a message travels:

* :mod:`.config`: settings from credentials.yml or ``TAOBAO_*`` (pydantic);
* :mod:`.sign`: TOP request signing (pure, no I/O), for both directions;
* :mod:`.inbound`: request checks -> status codes, the payload as a pydantic model, buyer ids;
* :mod:`.connector`: ``TaobaoInput`` (routes, duplicates, ordered background turns, image
  evidence and failed messages in Redis);
* :mod:`.replies`: ``TaobaoReply`` and the signed sender (aiohttp-retry), ``TaobaoOutput``.
"""

from bot.channels.taobao.connector import TaobaoInput
from bot.channels.taobao.replies import TaobaoOutput

__all__ = ["TaobaoInput", "TaobaoOutput"]
