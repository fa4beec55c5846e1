"""Network metrics and network snapshots for the firms' tie graph.

The model keeps its ties as parallel numpy arrays of endpoints (``u[i]``–``v[i]`` is
tie ``i``). This module turns those arrays into a sparse adjacency matrix, measures
the graph with the network outputs of docs/ODD.md §8 (``density``, ``mean_degree``,
``clustering``, ``avg_path_length``, ``largest_component_share``, ``components``,
``degree_gini``) and writes snapshots that Gephi, yEd or networkx can open.

Metrics are pure functions — a graph in, numbers out — on a ``scipy.sparse`` CSR matrix:
components with ``scipy.sparse.csgraph``, triangles and breadth-first searches compiled
(:mod:`clustersim.compiled`), because they run every month on 1,000-10,000 firms and must
stay usable at 100,000 (docs/developing.md, performance). networkx is used only to build
and write snapshots, never to measure.

The graph is undirected and simple: a tie between two firms either exists or not,
whatever its trust; a firm is never tied to itself.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
from networkx.readwrite.gexf import GEXFWriter

from clustersim import compiled

__all__ = [
    "EXPORT_SUFFIXES",
    "METRIC_NAMES",
    "adjacency",
    "export_network",
    "network_metrics",
    "tie_metrics",
    "to_networkx",
]

logger = logging.getLogger(__name__)

#: Keys of :func:`network_metrics`, in the order users see them (docs/ODD.md §8).
METRIC_NAMES: tuple[str, ...] = (
    "density",
    "mean_degree",
    "clustering",
    "avg_path_length",
    "largest_component_share",
    "components",
    "degree_gini",
)

#: File suffixes :func:`export_network` understands (compared case-insensitively).
EXPORT_SUFFIXES: tuple[str, ...] = (".gexf", ".graphml")


# ------------------------------------------------------------------ building graphs


def _check_ties(n_nodes: int, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the tie endpoints as int64 arrays, or raise ValueError saying what is wrong."""
    if int(n_nodes) != n_nodes or n_nodes < 0:
        raise ValueError(f"n_nodes must be a non-negative integer, got {n_nodes!r}")
    u = np.asarray(u)
    v = np.asarray(v)
    if u.ndim != 1 or v.ndim != 1 or u.shape != v.shape:
        raise ValueError(
            f"tie endpoints u and v must be 1-D arrays of equal length, "
            f"got shapes {u.shape} and {v.shape}"
        )
    if u.size and not (np.issubdtype(u.dtype, np.integer) and np.issubdtype(v.dtype, np.integer)):
        raise ValueError(
            f"tie endpoints must be integer node indices, got dtypes {u.dtype} and {v.dtype}"
        )
    u = u.astype(np.int64, copy=False)
    v = v.astype(np.int64, copy=False)
    if u.size:
        bad = (u < 0) | (u >= n_nodes) | (v < 0) | (v >= n_nodes)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"tie {i} joins nodes {int(u[i])} and {int(v[i])}, "
                f"but node indices must be in 0..{n_nodes - 1}"
            )
        loops = u == v
        if loops.any():
            i = int(np.flatnonzero(loops)[0])
            raise ValueError(f"tie {i} joins node {int(u[i])} to itself; self-ties are not allowed")
    return u, v


def adjacency(n_nodes: int, u: np.ndarray, v: np.ndarray) -> sp.csr_matrix:
    """Symmetric 0/1 adjacency matrix of the undirected tie graph over nodes 0..n_nodes-1.

    Each tie is given once (``u[i]``–``v[i]``); repeated ties, in either direction,
    collapse to one. Entries are float64 so ``scipy.sparse.csgraph`` uses the matrix
    without copying it.

    Raises:
        ValueError: endpoints of different lengths, outside 0..n_nodes-1, or a self-tie.
    """
    u, v = _check_ties(n_nodes, u, v)
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    adj = sp.csr_matrix(
        (np.ones(rows.size, dtype=np.float64), (rows, cols)), shape=(n_nodes, n_nodes)
    )
    adj.sum_duplicates()
    adj.data[:] = 1.0  # duplicates were summed; a tie exists or not
    return adj


def _plain(value: Any) -> Any:
    """A numpy scalar as the plain Python int/float/str/bool that file writers accept."""
    return value.item() if isinstance(value, np.generic) else value


def _plain_list(values: Sequence[Any], n_nodes: int, what: str) -> list[Any]:
    """Values aligned with nodes 0..n_nodes-1 as a list of plain Python scalars."""
    if len(values) != n_nodes:
        raise ValueError(f"{what} has {len(values)} values, but there are {n_nodes} nodes")
    if isinstance(values, np.ndarray):
        return values.tolist()  # converts every element to a Python scalar at C speed
    return [_plain(x) for x in values]


def to_networkx(
    n_nodes: int,
    u: np.ndarray,
    v: np.ndarray,
    trust: Sequence[float] | np.ndarray | None = None,
    node_attrs: Mapping[str, Sequence[Any]] | None = None,
    node_ids: Sequence[int] | None = None,
) -> nx.Graph:
    """A networkx Graph of the ties, for snapshots and plotting (not for metrics).

    Args:
        n_nodes: number of nodes; node ``i`` is row ``i`` of the model's firm arrays.
        u, v: tie endpoints as node indices, one entry per tie.
        trust: optional trust of each tie (aligned with ``u``/``v``), stored as the
            edge attribute ``trust``. If a tie is repeated, the last value wins.
        node_attrs: optional per-node attributes, each a sequence aligned with node
            index 0..n_nodes-1 (e.g. ``{"segment": ..., "employment": ...}``). A value
            of ``None`` leaves that attribute out for that node.
        node_ids: optional label for each node index (e.g. the firm's ``unique_id``),
            so snapshots taken at different months can be matched firm by firm.

    Numpy scalars become plain Python values, so the GEXF and GraphML writers accept
    them. Nodes are added in index order, which keeps exported files reproducible.

    Raises:
        ValueError: bad ties (see :func:`adjacency`), or attributes/ids whose length is
            not the number of nodes/ties, or repeated node ids.
    """
    u, v = _check_ties(n_nodes, u, v)
    if node_ids is None:
        labels: list[Any] = list(range(n_nodes))
    else:
        labels = _plain_list(node_ids, n_nodes, "node_ids")
        if len(set(labels)) != n_nodes:
            raise ValueError("node_ids must be unique: two nodes would share one label")

    attr_columns = {
        str(name): _plain_list(values, n_nodes, f"node attribute {name!r}")
        for name, values in (node_attrs or {}).items()
    }
    graph = nx.Graph()
    for i, label in enumerate(labels):
        attrs = {}
        for name, column in attr_columns.items():
            if column[i] is not None:
                attrs[name] = column[i]
        graph.add_node(label, **attrs)

    u_labels = [labels[i] for i in u.tolist()]
    v_labels = [labels[i] for i in v.tolist()]
    if trust is None:
        graph.add_edges_from(zip(u_labels, v_labels, strict=True))
    else:
        if len(trust) != u.size:
            raise ValueError(f"trust has {len(trust)} values, but there are {u.size} ties")
        trust_values = [float(t) for t in np.asarray(trust, dtype=np.float64).tolist()]
        graph.add_edges_from(
            (a, b, {"trust": t}) for a, b, t in zip(u_labels, v_labels, trust_values, strict=True)
        )
    return graph


# ------------------------------------------------------------------------- metrics


def _structure(adj: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """``adj`` as a canonical float64 0/1 CSR matrix, checked square, symmetric, loop-free.

    Copies only when the input is not already in that form (the output of
    :func:`adjacency` passes through untouched). Weights are ignored: any stored
    non-zero entry is a tie.
    """
    if not sp.issparse(adj):
        raise ValueError(f"adj must be a scipy sparse matrix, got {type(adj).__name__}")
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adj must be a square matrix, got shape {adj.shape}")
    a = sp.csr_matrix(adj, dtype=np.float64)
    if not a.has_canonical_format:
        a = a.copy()
        a.sum_duplicates()
    if a.nnz and not np.all(a.data == 1.0):
        a = a.copy()
        a.eliminate_zeros()
        a.data[:] = 1.0
    if a.diagonal().any():
        raise ValueError("adj has non-zero diagonal entries: a node cannot be tied to itself")
    if (a != a.T).nnz:
        raise ValueError(
            "adj is not symmetric: ties are undirected, so adj[i, j] must equal adj[j, i]"
        )
    return a


def _triangles_per_node(indptr: np.ndarray, indices: np.ndarray,
                        nodes: np.ndarray | None = None) -> np.ndarray:
    """Twice the number of triangles through each node (of ``nodes``, default all): row sums
    of ``(A @ A) ∘ A``, counted without forming the product (no memory blow-up around firms
    with many ties): for all nodes by :func:`clustersim.compiled.twice_triangles_all`, for
    some by :func:`clustersim.compiled.twice_triangles`."""
    if nodes is None:
        twice_triangles = np.zeros(indptr.size - 1, dtype=np.float64)
        compiled.twice_triangles_all(indptr, indices, twice_triangles)
        return twice_triangles
    rows = np.asarray(nodes, dtype=np.int64)
    twice_triangles = np.zeros(rows.size, dtype=np.float64)
    compiled.twice_triangles(indptr, indices, rows, twice_triangles)
    return twice_triangles


def _average_clustering(indptr: np.ndarray, indices: np.ndarray, degree: np.ndarray,
                        sample: int | None = None, rng: np.random.Generator | None = None) -> float:
    """Mean local clustering over all nodes; nodes with degree < 2 count as 0 (networkx).

    Exact when ``sample`` is None or the graph has at most ``sample`` nodes; otherwise the
    mean over ``sample`` distinct nodes drawn with ``rng`` (an unbiased estimate: local
    clustering lies in 0..1, so its standard error is at most 0.5 / √sample).
    """
    n = indptr.size - 1
    if n == 0:
        return 0.0
    nodes = None
    if sample is not None and n > sample:
        if rng is None:
            raise ValueError(f"the graph has {n} nodes, more than clustering_sample={sample}, "
                             "so clustering is estimated by sampling and needs rng")
        nodes = np.sort(rng.choice(n, size=sample, replace=False))
    twice_triangles = _triangles_per_node(indptr, indices, nodes)
    degree = degree if nodes is None else degree[nodes]
    possible = degree.astype(np.float64) * (degree - 1.0)  # 2 × pairs of neighbours
    local = np.zeros(degree.size, dtype=np.float64)
    has_pairs = degree >= 2
    local[has_pairs] = twice_triangles[has_pairs] / possible[has_pairs]
    return float(local.mean())


def _avg_path_length(
    indptr: np.ndarray,
    indices: np.ndarray,
    component_nodes: np.ndarray,
    path_sources: int,
    rng: np.random.Generator | None,
) -> float:
    """Mean hop distance between distinct nodes of one connected component.

    Exact (BFS from every node) when the component has at most ``path_sources``
    nodes; otherwise the mean over BFS from ``path_sources`` distinct sources drawn
    with ``rng``, which is an unbiased estimate of the same mean.
    """
    size = component_nodes.size
    if size < 2:
        return 0.0
    if size <= path_sources:
        sources = component_nodes
    else:
        if rng is None:
            raise ValueError(
                f"the largest component has {size} nodes, more than path_sources="
                f"{path_sources}, so avg_path_length is estimated by sampling and needs "
                "rng (pass the model's generator, e.g. rng=model.rng)"
            )
        sources = rng.choice(component_nodes, size=path_sources, replace=False)
    sources = np.asarray(sources, dtype=np.int64)
    reached = np.zeros(sources.size, dtype=np.int64)
    total = compiled.bfs_distance_sums(indptr, indices, sources, reached)
    if (reached != size).any():
        k = int(np.flatnonzero(reached != size)[0])
        raise RuntimeError(f"BFS from node {int(sources[k])} reached {int(reached[k])} nodes, "
                           f"expected its component's {size}")
    return total / (len(sources) * (size - 1))


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 when all equal, near 1 when one holds all."""
    n = values.size
    total = float(values.sum())
    if n == 0 or total == 0.0:
        return 0.0
    ordered = np.sort(values.astype(np.float64))
    rank_weights = 2.0 * np.arange(1, n + 1) - n - 1
    # Summed in order, not by BLAS: its threads made the last bits depend on the machine
    # and spun on a second core after each call (a third more CPU a month at 10,000 firms).
    return float(compiled.ordered_dot(rank_weights, ordered) / (n * total))


def network_metrics(
    adj: sp.spmatrix | sp.sparray,
    *,
    path_sources: int = 300,
    clustering_sample: int | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """The network outputs of docs/ODD.md §8 for an undirected tie graph.

    Args:
        adj: symmetric adjacency matrix (e.g. from :func:`adjacency`); any stored
            non-zero is a tie, weights are ignored.
        path_sources: largest component size for which ``avg_path_length`` is exact;
            above it, the number of BFS sources sampled to estimate it.
        clustering_sample: largest graph for which ``clustering`` is exact; above it,
            the number of nodes sampled to estimate it (None: always exact).
        rng: a generator; required only when sampling is needed (the model passes its
            measurement stream, so sampling never changes what the firms do).

    Returns:
        A dict with, as plain Python numbers:

        - ``density``: share of all possible ties that exist, 2E / (N(N-1)); 0 if N < 2.
        - ``mean_degree``: ties per firm, 2E / N; 0 if N = 0.
        - ``clustering``: average local clustering coefficient — how often two partners
          of a firm are partners themselves; firms with < 2 ties count as 0
          (as ``nx.average_clustering``).
        - ``avg_path_length``: mean number of ties on the shortest path between two
          firms of the largest connected component (ties broken by the component
          holding the lowest node index); 0 if it has < 2 firms.
        - ``largest_component_share``: share of firms in the largest component; 0 if N = 0.
        - ``components``: number of connected components, isolated firms included (int).
        - ``degree_gini``: Gini coefficient of ties per firm — 0 when every firm has as
          many ties, towards 1 when a few hubs hold them all; 0 if there are no ties.

    Raises:
        ValueError: ``adj`` not square, not symmetric or with self-ties;
            ``path_sources`` < 1; or sampling needed and ``rng`` is None.
    """
    a = _structure(adj)
    return _metrics(a.indptr, a.indices, path_sources, clustering_sample, rng)


def tie_metrics(
    n_nodes: int,
    u: np.ndarray,
    v: np.ndarray,
    *,
    path_sources: int = 300,
    clustering_sample: int | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """:func:`network_metrics` of the graph of ties ``u[i]``–``v[i]`` over nodes
    0..n_nodes-1, each tie given once (as the model keeps them), without building a scipy
    matrix: what the model measures every month.

    Raises:
        ValueError: as :func:`adjacency` for the endpoints, and if a tie is given twice.
    """
    u, v = _check_ties(n_nodes, u, v)
    indptr, indices, _trust = compiled.partners_by_firm(u, v, np.zeros(u.size), int(n_nodes))
    row_start = np.zeros(indices.size, dtype=bool)
    row_start[indptr[:-1][np.diff(indptr) > 0]] = True
    repeated = (np.diff(indices) == 0) & ~row_start[1:]
    if repeated.any():
        raise ValueError("a tie is given twice: tie_metrics wants each tie once "
                         "(use network_metrics(adjacency(...)) to merge repeats)")
    return _metrics(indptr, indices, path_sources, clustering_sample, rng)


def _metrics(indptr: np.ndarray, indices: np.ndarray, path_sources: int,
             clustering_sample: int | None, rng: np.random.Generator | None) -> dict[str, float]:
    """The metrics of a simple undirected graph in CSR form (sorted rows)."""
    if int(path_sources) != path_sources or path_sources < 1:
        raise ValueError(f"path_sources must be a positive integer, got {path_sources!r}")
    n = indptr.size - 1
    degree = np.diff(indptr).astype(np.int64)
    edges = int(degree.sum()) // 2
    # Components labelled in order of their lowest node; argmax takes the first largest,
    # so ties go to the component holding the lowest index.
    n_components, labels = compiled.component_labels(indptr, indices)
    largest_nodes = (np.flatnonzero(labels == int(np.argmax(np.bincount(labels))))
                     if n else np.empty(0, dtype=np.int64))
    return {
        "density": 2.0 * edges / (n * (n - 1)) if n >= 2 else 0.0,
        "mean_degree": 2.0 * edges / n if n else 0.0,
        "clustering": _average_clustering(indptr, indices, degree, clustering_sample, rng),
        "avg_path_length": float(_avg_path_length(indptr, indices, largest_nodes,
                                                  int(path_sources), rng)),
        "largest_component_share": largest_nodes.size / n if n else 0.0,
        "components": int(n_components),
        "degree_gini": gini(degree),
    }


# ------------------------------------------------------------------------- export


def _write_gexf(graph: nx.Graph, handle: Any) -> None:
    """GEXF 1.2 as ``nx.write_gexf`` writes it, minus the ``lastmodifieddate`` stamp.

    networkx stamps ``<meta lastmodifieddate="YYYY-MM-DD">`` with today's date
    (``time.strftime`` in ``GEXFWriter.__init__``); the attribute is optional in
    the GEXF schema, so dropping it makes the file depend on the graph only.
    """
    writer = GEXFWriter(graph=graph, encoding="utf-8", prettyprint=True, version="1.2draft")
    for meta in writer.xml.iter("meta"):
        meta.attrib.pop("lastmodifieddate", None)
    writer.write(handle)


def _write_graphml(graph: nx.Graph, handle: Any) -> None:
    """GraphML as ``nx.write_graphml`` writes it (no timestamps to remove)."""
    nx.write_graphml(graph, handle, encoding="utf-8", prettyprint=True)


_WRITERS = {".gexf": _write_gexf, ".graphml": _write_graphml}


def export_network(graph: nx.Graph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` as GEXF or GraphML, chosen by the file's suffix.

    The same graph always gives byte-identical files (no dates). The file is
    written to a temporary file in the same folder and moved into place, so a
    crash never leaves a half-written snapshot; missing parent folders are made.
    Node attributes named ``id``, ``label``, ``start``, ``end``, ``pid``, ``viz`` or
    ``spells`` have special meanings in GEXF.

    Returns:
        The path written.

    Raises:
        ValueError: the suffix is not ``.gexf`` or ``.graphml`` (any case).
    """
    target = Path(path)
    suffix = target.suffix.lower()
    writer = _WRITERS.get(suffix)
    if writer is None:
        raise ValueError(
            f"cannot export network to {str(target)!r}: the file name must end in "
            f"{' or '.join(EXPORT_SUFFIXES)} (any case), got {target.suffix or 'no suffix'!r}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its 0600 mode would survive os.replace; O_EXCL with a
    # unique name gives the usual umask-governed permissions instead.
    temp_path = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            writer(graph, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_path, target)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    logger.debug(
        "wrote network snapshot %s (%d nodes, %d ties)",
        target,
        graph.number_of_nodes(),
        graph.number_of_edges(),
    )
    return target
