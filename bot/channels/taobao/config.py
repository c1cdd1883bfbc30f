"""The Taobao channel's settings: ``credentials.yml`` keys, else ``TAOBAO_*`` variables.

=======================  =====================  ==============================================
credentials.yml key      environment variable   meaning
=======================  =====================  ==============================================
``app_key``              ``TAOBAO_APP_KEY``     the shop integration's app key (required)
``app_secret``           ``TAOBAO_APP_SECRET``  the secret both directions are signed with (required)
``reply_url``            ``TAOBAO_REPLY_URL``   where replies are POSTed, http(s) (required)
``reply_sign_method``                           ``md5`` | ``hmac`` | ``hmac-sha256`` (default)
``reply_attempts``                              attempts per reply (4)
``reply_timeout``                               seconds per attempt (5)
=======================  =====================  ==============================================

Anything missing or malformed refuses to start (a ``RasaException``: ``rasa run`` prints it).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any, Dict, Optional, Text

from pydantic import BaseModel, Field, ValidationError, validator
from rasa.shared.exceptions import RasaException

from bot.channels.taobao.sign import SIGN_METHODS

CHANNEL = "taobao"
_ENV = {"app_key": "TAOBAO_APP_KEY", "app_secret": "TAOBAO_APP_SECRET", "reply_url": "TAOBAO_REPLY_URL"}


class TaobaoConfig(BaseModel):
    """The channel's settings (see the module docstring).

    Attributes:
        app_key: our app key (inbound requests must carry it; replies are signed with it).
        app_secret: the signing secret; kept out of ``repr``.
        reply_url: the shop integration's reply endpoint.
        reply_sign_method: how replies are signed.
        reply_attempts: attempts per reply (connection errors, timeouts, 408, 429, 5xx are retried).
        reply_timeout: seconds per attempt.
    """

    app_key: str
    app_secret: str = Field(repr=False)
    reply_url: str
    reply_sign_method: str = "hmac-sha256"
    reply_attempts: int = Field(4, ge=1)
    reply_timeout: float = Field(5.0, gt=0)

    class Config:
        frozen = True
        anystr_strip_whitespace = True

    @validator("reply_url")
    def _http_url(cls, value: str) -> str:
        if urllib.parse.urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("TAOBAO_REPLY_URL must be an http(s) URL")
        return value

    @validator("reply_sign_method")
    def _sign_method(cls, value: str) -> str:
        if value not in SIGN_METHODS:
            raise ValueError(f"reply_sign_method must be one of {', '.join(SIGN_METHODS)}")
        return value

    @classmethod
    def load(cls, credentials: Optional[Dict[Text, Any]]) -> "TaobaoConfig":
        """Reads credentials.yml's section, with ``TAOBAO_*`` variables for unset keys.

        Raises:
            RasaException: the app key, the app secret or the reply URL is missing, or a value
                is malformed (the message names it).
        """
        credentials = credentials or {}
        values = {key: value for key, value in credentials.items() if value not in (None, "")}
        for key, env in _ENV.items():
            if not str(values.get(key) or "").strip() and os.environ.get(env, "").strip():
                values[key] = os.environ[env].strip()
        missing = [env for key, env in _ENV.items() if not str(values.get(key) or "").strip()]
        if missing:
            raise RasaException(
                f"The taobao channel needs {', '.join(missing)}: set the environment variable(s) or "
                "app_key/app_secret/reply_url under bot.channels.taobao.TaobaoInput in credentials.yml."
            )
        try:
            return cls(**values)
        except ValidationError as error:
            raise RasaException("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())) from None
