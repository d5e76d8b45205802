"""The config file: fields, precedence and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.kube.selectors import label_selector_problem
from fleetctl.config import load_config
from fleetctl.settings import resolve_settings
from store.errors import ConfigError


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


def test_fields_are_read(tmp_path: Path) -> None:
    cfg = load_config(
        _write(tmp_path, 'db = "sqlite:///x.db"\ncontext = "prod"\noutput = "json"\nkubeconfig = "~/k"\n')
    )
    assert (cfg.db, cfg.context, cfg.output) == ("sqlite:///x.db", "prod", "json")


def test_flags_beat_the_file_and_the_file_beats_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, 'context = "from-file"\noutput = "yaml"\n'))
    s = resolve_settings(cfg, db=None, kubeconfig=None, context="from-flag", output=None)
    assert (s.context, s.output, s.db) == ("from-flag", "yaml", None)
    assert s.kubeconfig == Path.home() / ".kube" / "config"


def test_kubeconfig_env_lists_several_files_and_the_first_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/a/config:/b/config")
    s = resolve_settings(load_config(None), db=None, kubeconfig=None, context=None, output=None)
    assert s.kubeconfig == Path("/a/config")


def test_missing_default_file_is_fine() -> None:
    assert load_config(None).path is None


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(str(tmp_path / "nope.toml"))


def test_unknown_field_suggests_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, 'contxt = "prod"\n'))
    assert "unknown field 'contxt'" in info.value.message
    assert "did you mean 'context'" in (info.value.hint or "")
    assert info.value.where and info.value.where.endswith("config.toml")


def test_wrong_type_and_bad_output_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a str"):
        load_config(_write(tmp_path, "context = 3\n"))
    with pytest.raises(ConfigError, match="'output'"):
        load_config(_write(tmp_path, 'output = "xml"\n'))


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "db = \n"))


@pytest.mark.parametrize(
    "selector",
    [
        "name=kata-deploy",
        "app.kubernetes.io/name==kata-monitor",
        "tier!=test,env in (prod, staging)",
        "release",
        "!canary",
    ],
)
def test_label_selectors_the_api_accepts_pass(selector: str) -> None:
    assert label_selector_problem(selector) is None


@pytest.mark.parametrize("selector", ["", "name=kata deploy", "=x", "a in b", "name=kata-deploy,,x=y", "bad key=x"])
def test_label_selectors_the_api_refuses_are_named(selector: str) -> None:
    assert label_selector_problem(selector)


def test_selectors_from_the_config_file_reach_the_collector(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[selectors]\nkata_deploy = "app.kubernetes.io/name=kata-deploy"\nkata_monitor = ["app=km"]\n')
    chosen = resolve_settings(load_config(str(path)), db=None, kubeconfig=None, context=None, output=None)
    got = chosen.pod_selectors()
    assert (got.kata_deploy, got.cloud_api_adaptor, got.kata_monitor) == (
        "app.kubernetes.io/name=kata-deploy",
        "app=cloud-api-adaptor",
        ("app=km",),
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('kata_deploy = "name=kata deploy"', "selectors.kata_deploy"),
        ('kata_monitor = ["app=km", "x in y"]', "selectors.kata_monitor[1]"),
        ("kata_monitor = []", "is empty"),
        ('kata_depoly = "name=x"', "unknown field 'selectors.kata_depoly'"),
    ],
)
def test_a_bad_selector_in_the_config_is_named(tmp_path: Path, body: str, says: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[selectors]\n{body}\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert says in str(err.value) and err.value.hint
