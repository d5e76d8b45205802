"""The cluster matcher injector (clients.promql) and the per-cluster Prometheus resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.prom import PromConfig, PromSource, resolve_prom
from clients.promql import MatcherConflict, PromQLError, tokenize, with_matcher
from fleetctl.config import load_config
from fleetctl.exitcodes import exit_code_for
from store.errors import BadInputError, ConfigError
from upgrades.gates import GateScope, check_queries
from upgrades.planfile import Check, Gates

M = 'cluster="eu"'

# (query, the query with cluster="eu" on every vector selector)
CASES = [
    ("up", f"up{{{M}}}"),
    ('up{job="kata-monitor"}', f'up{{job="kata-monitor", {M}}}'),
    ('up{job="kata-monitor",}', f'up{{job="kata-monitor",{M}}}'),
    ("up{}", f"up{{{M}}}"),
    ('{__name__="up"}', f'{{__name__="up", {M}}}'),
    ('{"kata.metric"}', f'{{"kata.metric", {M}}}'),
    ("max by (node) (up)", f"max by (node) (up{{{M}}})"),
    ("sum(up) by (node, zone)", f"sum(up{{{M}}}) by (node, zone)"),
    ("sum without (instance) (up)", f"sum without (instance) (up{{{M}}})"),
    ("rate(x[5m])", f"rate(x{{{M}}}[5m])"),
    ("rate(x[1h30m] offset -5m)", f"rate(x{{{M}}}[1h30m] offset -5m)"),
    ("max_over_time(rate(x[1m])[10m:30s])", f"max_over_time(rate(x{{{M}}}[1m])[10m:30s])"),
    ("x @ 1609746000", f"x{{{M}}} @ 1609746000"),
    ("x @ start()", f"x{{{M}}} @ start()"),
    ("x @ end() offset 1m", f"x{{{M}}} @ end() offset 1m"),
    (
        'kata_guest_meminfo{item="mem_available"} / ignoring(item) kata_guest_meminfo{item="mem_total"}',
        f'kata_guest_meminfo{{item="mem_available", {M}}} / ignoring(item) kata_guest_meminfo{{item="mem_total", {M}}}',
    ),
    (
        "a * on(node) group_left(arch, zone) b",
        f"a{{{M}}} * on(node) group_left(arch, zone) b{{{M}}}",
    ),
    ("a * on(node) group_right b", f"a{{{M}}} * on(node) group_right b{{{M}}}"),
    ("a > bool 0.5", f"a{{{M}}} > bool 0.5"),
    ("a and b or c unless d", f"a{{{M}}} and b{{{M}}} or c{{{M}}} unless d{{{M}}}"),
    ("topk(3, x)", f"topk(3, x{{{M}}})"),
    ('count_values("version", build_info)', f'count_values("version", build_info{{{M}}})'),
    ("quantile(0.9, x)", f"quantile(0.9, x{{{M}}})"),
    (
        'label_replace(up, "dst", "$1", "src", "(.*)")',
        f'label_replace(up{{{M}}}, "dst", "$1", "src", "(.*)")',
    ),
    (
        "histogram_quantile(0.99, sum by (node, le) (rate(b_bucket[1m])))",
        f"histogram_quantile(0.99, sum by (node, le) (rate(b_bucket{{{M}}}[1m])))",
    ),
    ("vector(1)", "vector(1)"),
    ("time() - 1e3", "time() - 1e3"),
    ("absent(up{job='x'})", f"absent(up{{job='x', {M}}})"),
    ("x == Inf or y != NaN", f"x{{{M}}} == Inf or y{{{M}}} != NaN"),
    ("0x1f + x", f"0x1f + x{{{M}}}"),
    ("x # a comment with up{job}\n+ y", f"x{{{M}}} # a comment with up{{job}}\n+ y{{{M}}}"),
    ('x{a=~"{{b}}\\\\."}', f'x{{a=~"{{{{b}}}}\\\\.", {M}}}'),
    ("`raw` ", "`raw` "),
    ("node:kata_shims:sum", f"node:kata_shims:sum{{{M}}}"),
    ("sum by (by) (x)", f"sum by (by) (x{{{M}}})"),
    ('sum(x{job="by"})', f'sum(x{{job="by", {M}}})'),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_the_matcher_goes_on_every_vector_selector_and_nowhere_else(query: str, expected: str) -> None:
    assert with_matcher(query, "cluster", "eu") == expected


def test_the_value_is_escaped() -> None:
    assert with_matcher("up", "cluster", 'a"b\\c\n') == 'up{cluster="a\\"b\\\\c\\n"}'


@pytest.mark.parametrize("query", ['up{cluster="us"}', 'x + {cluster=~"e.*"}', 'sum(rate(x{a="1", cluster!="b"}[5m]))'])
def test_a_matcher_of_its_own_on_the_label_is_refused(query: str) -> None:
    with pytest.raises(MatcherConflict):
        with_matcher(query, "cluster", "eu")


@pytest.mark.parametrize("query", ["sum(up", "up)", "rate(x[5m)", 'up{a="b"'])
def test_unbalanced_brackets_are_refused(query: str) -> None:
    with pytest.raises(PromQLError):
        with_matcher(query, "cluster", "eu")


def test_a_bad_label_name_is_refused() -> None:
    with pytest.raises(ValueError, match="label name"):
        with_matcher("up", "0cluster", "eu")


def test_the_tokenizer_keeps_strings_whole() -> None:
    assert [t.kind for t in tokenize('x{a="}{,"}')] == ["ident", "op", "ident", "op", "string", "op"]


def test_the_health_queries_of_a_labelled_cluster_all_carry_its_matcher() -> None:
    source = PromSource(PromConfig(url="http://127.0.0.1:1", cluster_label="cluster", cluster="eu"), "1m")
    for name, query in source.promql().items():
        rewritten = source.prepare(query)
        selectors = rewritten.count("{")
        assert rewritten.count('cluster="eu"') == selectors >= 1, (name, rewritten)


TABLE = {
    "url": "http://thanos:9090",
    "cluster_label": "cluster",
    "job": "kata",
    "contexts": {
        "eu": {"url": "http://eu:9090", "timeout_s": 3},
        "us": {"cluster": "us-east-1"},
        "plain": {"url": "http://plain:9090", "cluster_label": "region"},
        "off": {"cluster_label": ""},
    },
}


def test_a_context_table_overrides_the_top_level_and_names_its_label_value() -> None:
    eu = resolve_prom(TABLE, cluster="eu")  # its own Prometheus: the shared URL's label is not inherited
    assert eu == PromConfig(url="http://eu:9090", job="kata", timeout_s=3, cluster_label=None, cluster="eu")
    us = resolve_prom(TABLE, cluster="us")
    assert us is not None and (us.url, us.cluster_label, us.cluster) == ("http://thanos:9090", "cluster", "us-east-1")
    other = resolve_prom(TABLE, cluster="ap")  # no table of its own: the top level, valued by its name
    assert other is not None and (other.url, other.cluster) == ("http://thanos:9090", "ap")
    plain = resolve_prom(TABLE, cluster="plain")
    assert plain is not None and (plain.cluster_label, plain.cluster) == ("region", "plain")
    off = resolve_prom(TABLE, cluster="off")
    assert off is not None and (off.url, off.cluster_label) == ("http://thanos:9090", None)


def test_a_flag_url_overrides_every_url_but_the_label_still_applies() -> None:
    eu = resolve_prom(TABLE, url="http://flag:9090", cluster="eu")
    assert eu is not None and (eu.url, eu.cluster_label, eu.cluster) == ("http://flag:9090", "cluster", "eu")
    top = resolve_prom(TABLE, url="http://flag:9090")
    assert top is not None and top.urls() == ["http://flag:9090"]
    assert top.for_cluster("us") == resolve_prom(TABLE, url="http://flag:9090", cluster="us")


def test_the_global_config_resolves_each_cluster_the_same_way() -> None:
    top = resolve_prom(TABLE)
    assert top is not None and top.cluster_label is None and top.cluster is None
    for name in ("eu", "us", "ap", "plain", "off"):
        assert top.for_cluster(name) == resolve_prom(TABLE, cluster=name)
    assert top.urls() == ["http://thanos:9090", "http://eu:9090", "http://plain:9090"]


def test_only_context_urls_leave_other_clusters_without_prometheus() -> None:
    table = {"contexts": {"a": {"url": "http://a:9090"}}}
    top = resolve_prom(table)
    assert top is not None and top.url == "" and top.urls() == ["http://a:9090"]
    assert top.for_cluster("b") is None and resolve_prom(table, cluster="b") is None
    a = top.for_cluster("a")
    assert a is not None and (a.url, a.cluster_label) == ("http://a:9090", None)
    assert resolve_prom({}) is None and resolve_prom({}, cluster="a") is None


def test_a_config_made_in_code_has_one_prometheus_for_every_cluster() -> None:
    config = PromConfig(url="http://p:9090", cluster_label="cluster")
    assert config.for_cluster("a") == PromConfig(url="http://p:9090", cluster_label="cluster", cluster="a")


def test_a_gate_query_with_its_own_cluster_matcher_is_bad_input_naming_the_check() -> None:
    gates = Gates(soak_s=0, checks=(Check(name="shims", query='sum(up{cluster="x", node=~"{{nodes}}"})'),))
    source = PromSource(PromConfig(url="http://127.0.0.1:1", cluster_label="cluster", cluster="a"), "1m")
    with pytest.raises(BadInputError, match="'shims'"):
        check_queries(gates, [GateScope("a", source, ["n1"], ["n1"])], target="4.0")
    unlabelled = PromSource(PromConfig(url="http://127.0.0.1:1"), "1m")
    check_queries(gates, [GateScope("a", unlabelled, ["n1"], ["n1"])], target="4.0")  # nothing added, no conflict


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_per_context_tables_load(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        'prometheus.url = "http://thanos:9090"\nprometheus.cluster_label = "cluster"\n'
        '[prometheus.contexts.eu]\nurl = "http://eu:9090"\ncluster = "eu-1"\ntimeout_s = 2.5\n',
    )
    config = load_config(str(path))
    assert config.prometheus["contexts"]["eu"] == {"url": "http://eu:9090", "cluster": "eu-1", "timeout_s": 2.5}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[prometheus.contexts.eu]\nurll = "http://x"\n', "unknown field 'prometheus.contexts.eu.urll'"),
        ('[prometheus.contexts.eu]\ntimeout_s = "3"\n', "'prometheus.contexts.eu.timeout_s' has the wrong type"),
        ("[prometheus.contexts.eu]\ncluster = 3\n", "'prometheus.contexts.eu.cluster' has the wrong type"),
        ("[prometheus]\ncontexts = 3\n", "'prometheus.contexts' has the wrong type"),
        ("[prometheus]\ncontexts.eu = 3\n", "'prometheus.contexts.eu' must be a table"),
        ('[prometheus]\ncluster = "a"\n', "unknown field 'prometheus.cluster'"),
        ('[prometheus]\ncluster_label = "clus-ter"\n', "not a Prometheus label name"),
        ('[prometheus]\ncluster_label = "node"\n', "already match on"),
        ('[prometheus.contexts.eu]\ncluster_label = "job"\n', "already match on"),
        ("[prometheus.contexts.eu]\ntimeout_s = 0\n", "'prometheus.contexts.eu.timeout_s' is 0"),
        ('[prometheus.contexts.eu]\nurl = "eu:9090"\n', "'prometheus.contexts.eu.url' is 'eu:9090'"),
    ],
)
def test_a_bad_prometheus_table_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")) as caught:
        load_config(str(config_file(tmp_path, text)))
    assert exit_code_for(caught.value) == 2


def test_a_context_table_naming_no_kubeconfig_context_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fleetctl.services import warn_unknown_prom_contexts
    from fleetctl.settings import Settings

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod-eu\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: prod-eu, context: {cluster: c, user: u}}, {name: prod-us, context: {cluster: c, user: u}}]\n"
    )
    table = {"contexts": {"prod-eu": {"url": "http://eu:9090"}, "prod-ue": {"url": "http://us:9090"}}}
    settings = Settings(
        db=None, kubeconfig=kubeconfig, context=None, output="table", config_path=None, prometheus=table
    )
    warn_unknown_prom_contexts(settings)
    warned = capsys.readouterr().err
    assert "[prometheus.contexts.prod-ue] names no context" in warned and "did you mean 'prod-us'" in warned
    assert "prod-eu]" not in warned
