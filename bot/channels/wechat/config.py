"""The WeChat channel's settings: ``credentials.yml`` keys, else ``WECHAT_*`` variables.

========================  ==============================  ==========================================
credentials.yml key       environment variable            meaning
========================  ==============================  ==========================================
``token``                 ``WECHAT_TOKEN``                服务器配置 → 令牌 (required)
``app_id``                ``WECHAT_APP_ID``               the account's AppID (required)
``app_secret``            ``WECHAT_APP_SECRET``           the AppSecret, for access tokens (required)
``encoding_aes_key``      ``WECHAT_ENCODING_AES_KEY``     43 characters; set means safe mode (安全模式)
``api_base``              ``WECHAT_API_BASE``             default ``https://api.weixin.qq.com``
``timestamp_window``      ``WECHAT_TIMESTAMP_WINDOW``     accepted clock difference, seconds (300)
========================  ==============================  ==========================================

A missing token, AppID or AppSecret, a malformed AES key or a window that is not a positive
number of seconds refuses to start (:class:`WeChatConfigError`, a ``RasaException``, so
``rasa run`` prints it and exits).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any, Dict, Mapping, Optional, Text

from pydantic import BaseModel, Field, ValidationError, validator
from rasa.shared.exceptions import RasaException

CHANNEL = "wechat"
SENDER_PREFIX = "wechat:"
KEY_PREFIX = "wechat"
"""Prefix of every Redis key of the channel (``seen:*``, ``token:*``, ``token-lock:*``, ``closed:*``)."""
DEFAULT_API_BASE = "https://api.weixin.qq.com"
DEFAULT_TIMESTAMP_WINDOW = 300

_ENV = {
    "token": "WECHAT_TOKEN",
    "app_id": "WECHAT_APP_ID",
    "app_secret": "WECHAT_APP_SECRET",
    "encoding_aes_key": "WECHAT_ENCODING_AES_KEY",
    "api_base": "WECHAT_API_BASE",
    "timestamp_window": "WECHAT_TIMESTAMP_WINDOW",
}


class WeChatConfigError(RasaException, ValueError):
    """The channel's configuration is missing or malformed; the server does not start."""


class WeChatConfig(BaseModel):
    """The channel's settings (see the module docstring for where each comes from).

    Attributes:
        token: The token set in the WeChat admin console (服务器配置 → 令牌).
        app_id: The account's AppID.
        app_secret: The account's AppSecret (for access tokens); kept out of ``repr``.
        encoding_aes_key: The 43-character EncodingAESKey; set means safe mode (安全模式).
        api_base: Base URL of the WeChat API, without a trailing slash.
        timestamp_window: Accepted clock difference of a delivery, in seconds.
    """

    token: str
    app_id: str
    app_secret: str = Field(repr=False)
    encoding_aes_key: Optional[str] = Field(default=None, repr=False)
    api_base: str = DEFAULT_API_BASE
    timestamp_window: int = DEFAULT_TIMESTAMP_WINDOW

    class Config:
        frozen = True
        anystr_strip_whitespace = True

    @property
    def safe_mode(self) -> bool:
        """Messages are encrypted."""
        return bool(self.encoding_aes_key)

    @validator("encoding_aes_key")
    def _aes_key(cls, value: Optional[str]) -> Optional[str]:
        if not value:
            return None
        try:
            ok = len(value) == 43 and len(base64.b64decode(value + "=", validate=True)) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ValueError("must be the 43-character EncodingAESKey")
        return value

    @validator("timestamp_window")
    def _window(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be a positive number of seconds")
        return value

    @validator("api_base")
    def _api_base(cls, value: str) -> str:
        return (value or DEFAULT_API_BASE).rstrip("/")

    @classmethod
    def load(
        cls, credentials: Optional[Dict[Text, Any]] = None, environ: Optional[Mapping[str, str]] = None
    ) -> "WeChatConfig":
        """Reads the settings from ``credentials`` (credentials.yml), else from ``environ``.

        Args:
            credentials: the channel's section of credentials.yml; an empty value counts as unset.
            environ: the environment (``os.environ`` by default).

        Raises:
            WeChatConfigError: token, AppID or AppSecret missing; AES key or window malformed.
        """
        credentials = credentials or {}
        environ = os.environ if environ is None else environ
        values: Dict[str, Any] = {}
        for key, env in _ENV.items():
            raw = credentials.get(key)
            if raw in (None, ""):
                raw = environ.get(env, "")
            if str(raw).strip():
                values[key] = str(raw).strip()
        missing = [_ENV[key] for key in ("token", "app_id", "app_secret") if key not in values]
        if missing:
            raise WeChatConfigError(
                f"WeChat channel: {', '.join(missing)} not set (credentials.yml keys token/app_id/app_secret "
                "or the environment); the channel refuses to start without them"
            )
        try:
            return cls(**values)
        except ValidationError as error:
            problems = "; ".join(f"{_ENV.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in error.errors())
            raise WeChatConfigError(f"WeChat channel: {problems}") from None
