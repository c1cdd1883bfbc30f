"""deploy/nginx/bot.conf.template rendered as the official nginx image renders it (envsubst of
the variables docker-compose.yml sets on the nginx service), then ``nginx -t`` (Debian's nginx)
accepts it. nginx resolves upstream host names when it reads the configuration, so the check runs
in its own mount namespace where /etc/hosts names the compose services (``unshare -m``, as root).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.deploy import NGINX_TEMPLATE, env_references, load_compose, tool

SERVICES = ("rasa1", "rasa2", "actions1", "actions2", "redis", "nginx")


def nginx_env() -> dict[str, str]:
    return {key: str(value) for key, value in load_compose()["services"]["nginx"]["environment"].items()}


def render(template: Path, variables: dict[str, str]) -> str:
    """What /docker-entrypoint.d/20-envsubst-on-templates.sh writes: only defined variables are
    substituted (nginx's own $host, $remote_addr ... stay)."""
    shell_format = " ".join(f"${{{name}}}" for name in variables)
    result = subprocess.run(
        [tool("envsubst"), shell_format],
        input=template.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        env={**os.environ, **variables},
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def nginx_test(conf_d: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` of the rendered file included in http{} as the image's nginx.conf does."""
    (tmp_path / "bot.conf").write_text(conf_d, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  include {tmp_path}/bot.conf;\n}}\n",
        encoding="utf-8",
    )
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost " + " ".join(SERVICES) + "\n", encoding="utf-8")
    script = f'mount --bind "{hosts}" /etc/hosts && exec "$0" -t -e stderr -p "{tmp_path}" -c "{tmp_path}/nginx.conf"'
    return subprocess.run(
        [tool("unshare"), "-m", "sh", "-c", script, tool("nginx")], capture_output=True, text=True, timeout=60
    )


def test_the_template_reads_only_variables_compose_sets() -> None:
    used = env_references(NGINX_TEMPLATE)
    assert {"PROXY_PORT", "RASA_UPSTREAM_SERVERS", "ACTION_PROXY_PORT", "ACTION_UPSTREAM_SERVERS"} <= used
    assert used <= set(nginx_env()), used - set(nginx_env())


def test_the_rendered_template_passes_nginx_t(tmp_path: Path) -> None:
    rendered = render(NGINX_TEMPLATE, nginx_env())
    assert "${" not in "\n".join(line.split("#", 1)[0] for line in rendered.splitlines())
    assert "server rasa1:5005" in rendered and "server actions2:5055" in rendered
    result = nginx_test(rendered, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_t_refuses_a_broken_upstream_list(tmp_path: Path) -> None:
    variables = nginx_env()
    variables["RASA_UPSTREAM_SERVERS"] = "server rasa1:5005 max_fails=3 fail_timeout=10s"  # no ";"
    result = nginx_test(render(NGINX_TEMPLATE, variables), tmp_path)
    assert result.returncode != 0
