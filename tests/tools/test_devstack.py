"""tools/devstack.py: which credentials file the Rasa server gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.devstack import ROOT, credentials_file, rasa_command


def test_without_platform_variables_the_committed_credentials_are_used(tmp_path: Path) -> None:
    assert credentials_file({}, tmp_path) == ROOT / "credentials.yml"
    assert list(tmp_path.iterdir()) == []


def test_a_platform_channel_is_added_when_its_variable_is_set(tmp_path: Path) -> None:
    path = credentials_file({"TAOBAO_APP_KEY": "k"}, tmp_path)
    assert path.parent == tmp_path
    text = path.read_text(encoding="utf-8")
    assert "bot.channels.taobao.TaobaoInput: {}" in text and "WeChatInput" not in text
    assert "bot.channels.rest.ValidatingRestInput" in text and "bot.agent_api.channel.AgentApi" in text
    both = credentials_file({"TAOBAO_APP_KEY": "k", "WECHAT_TOKEN": "t"}, tmp_path).read_text(encoding="utf-8")
    assert "TaobaoInput" in both and "WeChatInput" in both


def test_free_ports_are_outside_the_ephemeral_range() -> None:
    from tools.devstack import free_port

    ports = {free_port() for _ in range(20)}
    assert all(20000 <= p < 32000 for p in ports)


@pytest.mark.parametrize("token", ["-Xk2_abc", "--enable-api", "plain-token"])
def test_the_rasa_command_reads_any_token_as_the_token(token: str) -> None:
    """Rasa's own argument parser gets the token back, even one that starts with "-"."""
    from rasa.__main__ import create_argument_parser

    command = rasa_command(Path("models/m.tar.gz"), 5005, token, Path("credentials.yml"))
    args = create_argument_parser().parse_args(command[1:])
    assert args.auth_token == token and args.enable_api and args.port == 5005
