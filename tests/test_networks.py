"""Tests for clustersim.networks: metrics against networkx, sampling, snapshots."""

from __future__ import annotations

import math
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components, shortest_path

from clustersim import compiled, networks
from clustersim.networks import (
    METRIC_NAMES,
    adjacency,
    export_network,
    gini,
    network_metrics,
    tie_metrics,
    to_networkx,
)

# ------------------------------------------------------------------------ helpers


@st.composite
def tie_lists(draw: st.DrawFn, max_nodes: int = 40) -> tuple[int, np.ndarray, np.ndarray]:
    """A node count and tie endpoints, possibly repeated in either direction."""
    n = draw(st.integers(min_value=0, max_value=max_nodes))
    if n < 2:
        return n, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1]),
            max_size=3 * n,
        )
    )
    u = np.array([p[0] for p in pairs], dtype=np.int64)
    v = np.array([p[1] for p in pairs], dtype=np.int64)
    return n, u, v


def reference_metrics(n: int, u: np.ndarray, v: np.ndarray) -> dict[str, float]:
    """The same metrics computed with networkx, for comparison."""
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(zip(u.tolist(), v.tolist(), strict=True))
    if n == 0:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    components = sorted(nx.connected_components(graph), key=lambda c: (-len(c), min(c)))
    largest = components[0]
    degrees = np.array([d for _, d in graph.degree()], dtype=float)
    return {
        "density": nx.density(graph),
        "mean_degree": 2 * graph.number_of_edges() / n,
        "clustering": nx.average_clustering(graph),
        "avg_path_length": nx.average_shortest_path_length(graph.subgraph(largest)),
        "largest_component_share": len(largest) / n,
        "components": nx.number_connected_components(graph),
        "degree_gini": gini_by_pairs(degrees),
    }


def gini_by_pairs(values: np.ndarray) -> float:
    """Gini as mean absolute difference over all ordered pairs / (2 × mean)."""
    if values.size == 0 or values.sum() == 0:
        return 0.0
    return float(np.abs(values[:, None] - values[None, :]).mean() / (2 * values.mean()))


def random_connected_ties(
    n: int, extra: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:  # a ring keeps it connected
    rng = np.random.default_rng(seed)
    ring_u = np.arange(n)
    ring_v = (ring_u + 1) % n
    u = rng.integers(0, n, extra)
    v = rng.integers(0, n, extra)
    keep = u != v
    return np.concatenate([ring_u, u[keep]]), np.concatenate([ring_v, v[keep]])


# ------------------------------------------------------------------------ adjacency


def test_adjacency_is_symmetric_zero_one_and_collapses_duplicates() -> None:
    adj = adjacency(4, np.array([0, 1, 0, 2]), np.array([1, 0, 1, 3]))
    assert isinstance(adj, sp.csr_matrix)
    assert adj.shape == (4, 4)
    assert adj.nnz == 4  # ties 0-1 and 2-3, each stored both ways
    assert set(adj.data.tolist()) == {1.0}
    assert (adj != adj.T).nnz == 0
    assert adj[0, 1] == 1 and adj[1, 0] == 1 and adj[2, 3] == 1 and adj[0, 2] == 0


@pytest.mark.parametrize(
    ("n", "u", "v", "message"),
    [
        (3, [0, 1], [1], "equal length"),
        (3, [0, 3], [1, 0], "0..2"),
        (3, [-1], [1], "0..2"),
        (3, [1], [1], "itself"),
        (3, [0.5], [1.0], "integer"),
    ],
)
def test_adjacency_rejects_bad_ties(n: int, u: list, v: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        adjacency(n, np.array(u), np.array(v))


# ------------------------------------------------------------------------ metrics


@settings(max_examples=300, deadline=None)
@given(tie_lists())
def test_metrics_match_networkx(ties: tuple[int, np.ndarray, np.ndarray]) -> None:
    n, u, v = ties
    got = network_metrics(adjacency(n, u, v))
    expected = reference_metrics(n, u, v)
    assert list(got) == list(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert type(got[name]) is (int if name == "components" else float), name
        assert got[name] == pytest.approx(expected[name], abs=1e-9), name


@settings(max_examples=50, deadline=None)
@given(tie_lists(max_nodes=25), st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_sampled_path_length_is_exact_once_sources_cover_component(
    ties: tuple[int, np.ndarray, np.ndarray], path_sources: int, seed: int
) -> None:
    """Sampling without replacement from every node of the component is the exact mean."""
    n, u, v = ties
    adj = adjacency(n, u, v)
    exact = network_metrics(adj)["avg_path_length"]
    sampled = network_metrics(adj, path_sources=path_sources, rng=np.random.default_rng(seed))
    if path_sources >= n:
        assert sampled["avg_path_length"] == pytest.approx(exact, abs=1e-12)
    assert sampled["avg_path_length"] >= 0.0


def test_sampled_path_length_close_to_exact_and_deterministic() -> None:
    n = 3000
    u, v = random_connected_ties(n, 6000, seed=7)
    adj = adjacency(n, u, v)
    distances = shortest_path(adj, method="D", directed=False, unweighted=True)
    exact = distances.sum() / (n * (n - 1))

    first = network_metrics(adj, rng=np.random.default_rng(42))
    again = network_metrics(adj, rng=np.random.default_rng(42))
    assert first == again
    assert first["avg_path_length"] == pytest.approx(exact, rel=0.03)
    other_seed = network_metrics(adj, rng=np.random.default_rng(43))
    assert other_seed["avg_path_length"] == pytest.approx(exact, rel=0.03)
    # and with every node as a source the BFS sums reproduce scipy exactly
    full = network_metrics(adj, path_sources=n)
    assert full["avg_path_length"] == pytest.approx(exact, abs=1e-12)


def test_sampling_needs_rng() -> None:
    u, v = random_connected_ties(50, 0, seed=0)
    with pytest.raises(ValueError, match="rng"):
        network_metrics(adjacency(50, u, v), path_sources=10)


def test_sampled_clustering_is_exact_up_to_the_sample_and_close_above() -> None:
    n = 4000
    rng = np.random.default_rng(11)
    # a clustered graph: ring lattice (each node tied to its 4 nearest) plus random ties
    ring_u = np.repeat(np.arange(n), 2)
    ring_v = (ring_u + np.tile([1, 2], n)) % n
    extra_u, extra_v = rng.integers(0, n, 2000), rng.integers(0, n, 2000)
    keep = extra_u != extra_v
    adj = adjacency(n, np.r_[ring_u, extra_u[keep]], np.r_[ring_v, extra_v[keep]])
    exact = nx.average_clustering(nx.from_scipy_sparse_array(adj))
    whole = network_metrics(adj, clustering_sample=n, rng=np.random.default_rng(1))
    assert whole["clustering"] == pytest.approx(exact, abs=1e-12)
    sample = 1000
    first = network_metrics(adj, clustering_sample=sample, rng=np.random.default_rng(2))
    again = network_metrics(adj, clustering_sample=sample, rng=np.random.default_rng(2))
    assert first == again
    assert first["clustering"] != exact  # it did sample
    assert first["clustering"] == pytest.approx(exact, abs=4 * 0.5 / math.sqrt(sample))
    with pytest.raises(ValueError, match="rng"):
        network_metrics(adj, clustering_sample=sample)


def test_bfs_distance_sums_match_scipys_shortest_paths() -> None:
    u, v = random_connected_ties(500, 400, seed=3)
    adj = adjacency(500, u, v)
    sources = np.array([0, 17, 250, 499])
    reached = np.zeros(sources.size, dtype=np.int64)
    total = compiled.bfs_distance_sums(adj.indptr, adj.indices, sources, reached)
    dist = shortest_path(adj, method="D", unweighted=True, indices=sources)
    assert total == int(dist[np.isfinite(dist)].sum())
    assert reached.tolist() == np.isfinite(dist).sum(axis=1).tolist()



def test_more_bfs_sources_than_one_batch_over_several_components() -> None:
    """Searches run 64 at a time: 150 sources, some in a second component or isolated."""
    u, v = random_connected_ties(500, 400, seed=4)
    u2, v2 = random_connected_ties(30, 10, seed=5)
    adj = adjacency(540, np.concatenate([u, u2 + 500]), np.concatenate([v, v2 + 500]))
    sources = np.random.default_rng(6).choice(540, size=150, replace=False)
    reached = np.zeros(sources.size, dtype=np.int64)
    total = compiled.bfs_distance_sums(adj.indptr, adj.indices, sources, reached)
    dist = shortest_path(adj, method="D", unweighted=True, indices=sources)
    assert total == int(dist[np.isfinite(dist)].sum())
    assert reached.tolist() == np.isfinite(dist).sum(axis=1).tolist()
    assert {1, 30, 500} <= set(reached.tolist())  # isolated, small and large component


def test_triangle_counts_match_the_sparse_product_around_a_hub() -> None:
    """Twice the triangles per node, counted without forming A @ A, equal the row sums of
    (A @ A) ∘ A, for a graph with a hub tied to every node, on all nodes and on a sample."""
    rng = np.random.default_rng(5)
    n = 300
    u = np.concatenate([np.zeros(n - 1, dtype=np.int64), rng.integers(0, n, 900)])
    v = np.concatenate([np.arange(1, n), rng.integers(0, n, 900)])
    keep = u != v
    adj = adjacency(n, u[keep], v[keep])
    expected = np.asarray(((adj @ adj).multiply(adj)).sum(axis=1)).ravel()
    assert networks._triangles_per_node(adj.indptr, adj.indices).tolist() == expected.tolist()
    nodes = np.array([0, 3, 299, 150])
    assert (networks._triangles_per_node(adj.indptr, adj.indices, nodes).tolist()
            == expected[nodes].tolist())


def test_empty_graph() -> None:
    assert network_metrics(adjacency(0, np.array([], int), np.array([], int))) == {
        "density": 0.0,
        "mean_degree": 0.0,
        "clustering": 0.0,
        "avg_path_length": 0.0,
        "largest_component_share": 0.0,
        "components": 0,
        "degree_gini": 0.0,
    }


def test_isolated_nodes_only() -> None:
    assert network_metrics(adjacency(5, np.array([], int), np.array([], int))) == {
        "density": 0.0,
        "mean_degree": 0.0,
        "clustering": 0.0,
        "avg_path_length": 0.0,
        "largest_component_share": 0.2,
        "components": 5,
        "degree_gini": 0.0,
    }


def test_single_tie() -> None:
    assert network_metrics(adjacency(2, np.array([0]), np.array([1]))) == {
        "density": 1.0,
        "mean_degree": 1.0,
        "clustering": 0.0,
        "avg_path_length": 1.0,
        "largest_component_share": 1.0,
        "components": 1,
        "degree_gini": 0.0,
    }


def test_duplicate_ties_count_once() -> None:
    once = network_metrics(adjacency(3, np.array([0, 1]), np.array([1, 2])))
    repeated = network_metrics(adjacency(3, np.array([0, 1, 1, 0, 2]), np.array([1, 0, 2, 1, 1])))
    assert once == repeated
    assert once["mean_degree"] == pytest.approx(4 / 3)


def test_weights_and_stored_duplicates_are_ignored() -> None:
    u, v = random_connected_ties(60, 80, seed=1)
    adj = adjacency(60, u, v)
    weighted = adj * 3.5
    # the same ties with row 0's first entry stored twice (unsummed CSR duplicates)
    indices = np.insert(adj.indices, 0, adj.indices[0])
    indptr = adj.indptr + 1
    indptr[0] = 0
    raw = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(60, 60))
    assert raw.nnz == adj.nnz + 1
    reference = network_metrics(adj)
    assert network_metrics(weighted) == reference
    assert network_metrics(sp.csr_array(weighted)) == reference
    assert network_metrics(raw) == reference


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (sp.csr_matrix(np.array([[0.0, 1.0], [0.0, 0.0]])), "symmetric"),
        (sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]])), "itself"),
        (sp.csr_matrix(np.zeros((2, 3))), "square"),
        (np.zeros((2, 2)), "sparse"),
    ],
)
def test_metrics_reject_bad_matrices(matrix: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        network_metrics(matrix)  # type: ignore[arg-type]


@pytest.mark.parametrize("path_sources", [0, -3, 2.5])
def test_metrics_reject_bad_path_sources(path_sources: float) -> None:
    with pytest.raises(ValueError, match="path_sources"):
        network_metrics(adjacency(2, np.array([0]), np.array([1])), path_sources=path_sources)  # type: ignore[arg-type]


def test_largest_component_tie_goes_to_lowest_node() -> None:
    # two components of 3 nodes: a path 3-4-5 (mean path 4/3) and a triangle 0-1-2 (1)
    adj = adjacency(6, np.array([3, 4, 0, 1, 2]), np.array([4, 5, 1, 2, 0]))
    metrics = network_metrics(adj)
    assert metrics["avg_path_length"] == 1.0
    assert metrics["largest_component_share"] == 0.5


# ------------------------------------------------------------------------ degree_gini


def test_degree_gini_zero_when_all_degrees_equal() -> None:
    ring = np.arange(10)
    assert network_metrics(adjacency(10, ring, (ring + 1) % 10))["degree_gini"] == 0.0


@pytest.mark.parametrize("leaves", [2, 3, 5, 20])
def test_degree_gini_of_star(leaves: int) -> None:
    # degrees: centre k, k leaves with 1. Sum of |d_i - d_j| over ordered pairs is
    # 2k(k-1); mean degree 2k/(k+1); so Gini = 2k(k-1) / (2 (k+1)^2 · 2k/(k+1))
    # = (k-1) / (2(k+1)); e.g. 3 leaves → 0.25, 2 leaves (a path) → 1/6.
    star = network_metrics(adjacency(leaves + 1, np.zeros(leaves, int), np.arange(1, leaves + 1)))
    assert star["degree_gini"] == pytest.approx((leaves - 1) / (2 * (leaves + 1)), abs=1e-12)


def test_degree_gini_star_of_three_by_hand() -> None:
    # sorted degrees 1,1,1,3: Σ(2i-n-1)·d_i = -3-1+1+9 = 6; / (n·Σd) = 6 / (4·6)
    star = network_metrics(adjacency(4, np.array([0, 0, 0]), np.array([1, 2, 3])))
    assert star["degree_gini"] == 0.25


# ------------------------------------------------------------------------ to_networkx


@settings(max_examples=50, deadline=None)
@given(tie_lists(max_nodes=20))
def test_to_networkx_has_the_same_ties(ties: tuple[int, np.ndarray, np.ndarray]) -> None:
    n, u, v = ties
    graph = to_networkx(n, u, v)
    assert list(graph.nodes) == list(range(n))
    expected = nx.Graph()
    expected.add_nodes_from(range(n))
    expected.add_edges_from(zip(u.tolist(), v.tolist(), strict=True))
    assert nx.utils.edges_equal(graph.edges, expected.edges)


def test_to_networkx_converts_numpy_values_and_uses_node_ids() -> None:
    graph = to_networkx(
        3,
        np.array([0, 1]),
        np.array([1, 2]),
        trust=np.array([0.5, 0.25], dtype=np.float32),
        node_attrs={
            "employment": np.array([10, 20, 30], dtype=np.int32),
            "segment": ["machining", np.str_("casting"), "assembly"],
            "alive": [np.bool_(True), True, False],
            "knowledge": [np.float64(0.1), None, 0.3],
        },
        node_ids=np.array([101, 205, 307]),
    )
    assert list(graph.nodes) == [101, 205, 307]
    assert all(type(node) is int for node in graph.nodes)
    assert graph.nodes[205] == {"employment": 20, "segment": "casting", "alive": True}
    assert type(graph.nodes[101]["employment"]) is int
    assert type(graph.nodes[101]["alive"]) is bool
    assert type(graph.nodes[205]["segment"]) is str
    assert type(graph.nodes[101]["knowledge"]) is float
    assert graph.edges[101, 205]["trust"] == 0.5
    assert type(graph.edges[205, 307]["trust"]) is float


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trust": [0.5]}, "trust has 1 values, but there are 2 ties"),
        ({"node_attrs": {"size": [1, 2]}}, "'size' has 2 values, but there are 3 nodes"),
        ({"node_ids": [1, 2]}, "node_ids has 2 values"),
        ({"node_ids": [1, 2, 1]}, "unique"),
    ],
)
def test_to_networkx_rejects_misaligned_inputs(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_networkx(3, np.array([0, 1]), np.array([1, 2]), **kwargs)


# ------------------------------------------------------------------------ export


def snapshot_graph() -> nx.Graph:
    return to_networkx(
        4,
        np.array([0, 1, 2]),
        np.array([1, 2, 0]),
        trust=np.array([0.9, 0.4, 0.65]),
        node_attrs={
            "employment": np.array([12, 40, 7, 3]),
            "knowledge": np.array([0.5, 1.25, 0.0, 2.0]),
            "segment": np.array(["machining", "casting", "machining", "assembly"]),
            "in_formal_network": np.array([True, False, True, False]),
        },
        node_ids=[10, 11, 12, 13],
    )


def read_back(path: Path) -> nx.Graph:
    if path.suffix.lower() == ".gexf":
        return nx.read_gexf(path, node_type=int)
    return nx.read_graphml(path, node_type=int)


@pytest.mark.parametrize("name", ["net.gexf", "net.graphml", "NET.GEXF", "Net.GraphML"])
def test_export_round_trips(tmp_path: Path, name: str) -> None:
    graph = snapshot_graph()
    path = export_network(graph, tmp_path / "snapshots" / "month_12" / name)
    assert path.exists()
    back = read_back(path)
    assert list(back.nodes) == list(graph.nodes)
    assert nx.utils.edges_equal(back.edges, graph.edges)
    for node, data in graph.nodes(data=True):
        got = {k: val for k, val in back.nodes[node].items() if k != "label"}  # GEXF adds label
        assert got == data
        assert {k: type(val) for k, val in got.items()} == {k: type(val) for k, val in data.items()}
    for a, b, data in graph.edges(data=True):
        assert math.isclose(back.edges[a, b]["trust"], data["trust"], rel_tol=1e-6)


@pytest.mark.parametrize("suffix", [".gexf", ".graphml"])
def test_export_is_byte_identical_across_days(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = snapshot_graph()
    first = export_network(graph, tmp_path / f"a{suffix}")
    # pretend the second write happens on another day: networkx dates GEXF files
    # with time.strftime, which must not reach the file
    import networkx.readwrite.gexf as gexf_module

    monkeypatch.setattr(gexf_module.time, "strftime", lambda *args: "2099-12-31")
    second = export_network(snapshot_graph(), tmp_path / f"b{suffix}")
    assert first.read_bytes() == second.read_bytes()
    assert b"lastmodifieddate" not in first.read_bytes()
    assert b"2099" not in second.read_bytes()


def test_export_overwrites_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    graph = snapshot_graph()
    export_network(graph, tmp_path / "net.gexf")
    export_network(nx.path_graph(3), tmp_path / "net.gexf")
    export_network(graph, tmp_path / "net.graphml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.gexf", "net.graphml"]
    assert read_back(tmp_path / "net.gexf").number_of_nodes() == 3


def test_failed_export_keeps_old_file_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "net.graphml"
    export_network(snapshot_graph(), path)
    before = path.read_bytes()
    unwritable = nx.Graph()
    unwritable.add_node(0, history=[1, 2, 3])  # lists have no GraphML type
    with pytest.raises(nx.NetworkXError):
        export_network(unwritable, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.graphml"]


@pytest.mark.parametrize("name", ["net.csv", "net.gexf.gz", "net"])
def test_export_rejects_unknown_suffix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(ValueError, match=r"\.gexf or \.graphml") as error:
        export_network(snapshot_graph(), path)
    assert str(path) in str(error.value)
    assert [p.name for p in tmp_path.iterdir()] == []


# ------------------------------------------------------------------------ timing

if __name__ == "__main__":
    for n_nodes, n_ties in [(1_000, 5_000), (10_000, 50_000), (100_000, 500_000)]:
        generator = np.random.default_rng(0)
        tie_u = generator.integers(0, n_nodes, n_ties)
        tie_v = generator.integers(0, n_nodes, n_ties)
        keep_ties = tie_u != tie_v
        matrix = adjacency(n_nodes, tie_u[keep_ties], tie_v[keep_ties])
        network_metrics(matrix, rng=np.random.default_rng(1))  # warm up
        runs = 3 if n_nodes < 100_000 else 1
        started = time.perf_counter()
        for _ in range(runs):
            result = network_metrics(matrix, rng=np.random.default_rng(1))
        elapsed = (time.perf_counter() - started) / runs
        print(f"{n_nodes:>7} nodes {n_ties:>7} ties: network_metrics {elapsed:.3f} s  {result}")


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), extra=st.integers(0, 120), seed=st.integers(0, 10_000))
def test_tie_metrics_equal_network_metrics_of_the_adjacency(n, extra, seed) -> None:
    """The model's path (ties straight to CSR, compiled components) and the public one
    (a checked scipy matrix) give the same numbers, isolated firms and small parts included."""
    rng = np.random.default_rng(seed)
    pairs = {tuple(sorted(p)) for p in rng.integers(0, max(n, 1), size=(extra, 2)).tolist()
             if p[0] != p[1]} if n else set()
    u = np.array([p[0] for p in sorted(pairs)], dtype=np.int64)
    v = np.array([p[1] for p in sorted(pairs)], dtype=np.int64)
    options = {"path_sources": 20, "clustering_sample": 30}
    expected = network_metrics(adjacency(n, u, v), rng=np.random.default_rng(1), **options)
    assert tie_metrics(n, u, v, rng=np.random.default_rng(1), **options) == expected
    if n:
        count, labels = compiled.component_labels(*(adjacency(n, u, v).indptr,
                                                    adjacency(n, u, v).indices))
        scipy_count, scipy_labels = connected_components(adjacency(n, u, v), directed=False)
        assert count == scipy_count and labels.tolist() == scipy_labels.tolist()


def test_tie_metrics_refuse_a_tie_given_twice() -> None:
    with pytest.raises(ValueError, match="twice"):
        tie_metrics(4, np.array([0, 1, 1]), np.array([1, 2, 2]))
    with pytest.raises(ValueError, match="twice"):
        tie_metrics(4, np.array([0, 1]), np.array([1, 0]))


def test_gini_sums_in_order_whatever_blas_would_do() -> None:
    """Long vectors (BLAS would split the dot product over threads) give the in-order sum,
    so the last bits do not depend on the machine's core count."""
    values = np.random.default_rng(3).lognormal(size=25_000)
    ordered = np.sort(values)
    n = values.size
    total = 0.0
    for i, value in enumerate(ordered.tolist()):
        total += (2.0 * (i + 1) - n - 1) * value
    assert gini(values) == total / (n * float(values.sum()))
