"""The results store: one DuckDB file per study, written run by run, safe against crashes.

The tables are :func:`clustersim.experiments.spec.schema_sql`'s: ``meta`` (what the
store was written for), ``runs`` (one row per finished run, done or failed),
``summaries`` (one row per done run) and ``timeseries`` (one row per done run and kept
month). :meth:`ResultsStore.record` writes a run's three parts in one transaction, so
a crash (even SIGKILL) leaves every committed run whole and no half run: DuckDB's
write-ahead log is replayed the next time the file is opened.

A store is never "repaired": a file that is missing, not DuckDB, corrupt, of another
schema version or written by another experiment raises :class:`StoreError` before
anything is written, and the file is left as it was (it is first opened read-only).

DuckDB lets one process write a file at a time, and while it writes, no other process
may open it, not even read-only: the sweep's main process is the only writer; workers
only compute.
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clustersim.experiments.identity import check_same_sweep
from clustersim.experiments.spec import (
    STORE_SCHEMA_VERSION,
    RunResult,
    RunSpec,
    StoreError,
    canonical_json,
    first_line,
    schema_sql,
)
from clustersim.run_tables import RUN_TABLE_COLUMNS

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

TABLES = ("meta", "runs", "summaries", "timeseries")
# The sweep's writer uses one DuckDB thread: the cores belong to the workers.
_WRITER_CONFIG = {"threads": 1}
# Never fetch or load DuckDB extensions (no network; a store needs none).
_SAFE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# A DuckDB file starts with three 4 KiB headers, then its blocks.
_FILE_HEADERS = 3 * 4096


class ResultsStore:
    """A results store file, open for a sweep (read-write) or for reading.

    Use :meth:`open_for_sweep` or :meth:`open_read_only`, not the constructor; close it
    (or use it as a context manager) so the next process can open the file.
    """

    def __init__(
        self, path: Path, connection: duckdb.DuckDBPyConnection, *, read_only: bool
    ) -> None:
        self.path = path
        self.read_only = read_only
        self._con: duckdb.DuckDBPyConnection | None = connection
        self._metric_columns, self._outcome_columns = _value_columns()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open_for_sweep(cls, path: str | Path, meta: dict[str, str]) -> ResultsStore:
        """The store at ``path`` ready to record runs of the sweep ``meta`` describes.

        A new file is created with the tables and ``meta`` (plus ``schema_version``) in
        one go: it is built under a temporary name and renamed, so a crash never leaves
        a half-made store. An existing file must be a store of this schema version whose
        ``experiment`` and ``fingerprint`` match ``meta``; more replications than before
        are fine (the fingerprint leaves them out). Otherwise :class:`StoreError`, and the
        file is not touched.
        """
        path = Path(path)
        if not cls.check_for_sweep(path, meta):
            _create(path, meta)
        return cls(path, _connect(path, read_only=False), read_only=False)

    @classmethod
    def check_for_sweep(cls, path: str | Path, meta: dict[str, str]) -> bool:
        """Whether a store exists at ``path`` (False: a sweep would create it); raises
        :class:`StoreError` if the file there is not one the sweep ``meta`` describes
        may add to. Reads only: the file is never changed."""
        path = Path(path)
        for key in ("experiment", "fingerprint"):
            if not meta.get(key):
                raise ValueError(f"store meta needs a non-empty {key!r}")
        if not (path.exists() or _wal_path(path).exists()):
            return False
        with cls.open_read_only(path) as existing:
            stored = existing.meta()
            existing._check_columns()
            for key in ("steps", "record_every"):  # stores that do not say: ask the runs
                if key not in stored:
                    values = (
                        existing._connection()
                        .execute(f"SELECT DISTINCT {key} FROM runs LIMIT 2")
                        .fetchall()
                    )
                    if len(values) == 1:
                        stored[key] = str(values[0][0])
        check_same_sweep(path, stored, meta)
        return True

    @classmethod
    def open_read_only(cls, path: str | Path) -> ResultsStore:
        """An existing store, for reading; :class:`StoreError` if it is not a usable store."""
        path = Path(path)
        if not path.exists():
            raise StoreError(
                f"results store {path}: no such file. A sweep creates it: "
                "clustersim sweep EXPERIMENT --store PATH",
                str(path),
            )
        if path.is_dir():
            raise StoreError(f"results store {path}: is a folder, not a DuckDB file", str(path))
        if not _looks_like_duckdb(path):
            raise StoreError(
                f"results store {path}: not a DuckDB file. Give the sweep another file with "
                "--store OTHER.duckdb; this one was left as it is.",
                str(path),
            )
        con = _connect(path, read_only=True)
        try:
            tables = {
                row[0]
                for row in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
                ).fetchall()
            }
            missing = [name for name in TABLES if name not in tables]
            if missing:
                raise StoreError(
                    f"results store {path}: a DuckDB file but not a clustersim results store "
                    f"(no table {', '.join(missing)}). Give the sweep another file with "
                    "--store OTHER.duckdb; this one was left as it is.",
                    str(path),
                )
            _check_length(path, con)
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            version = meta.get("schema_version")
            if version != str(STORE_SCHEMA_VERSION):
                raise StoreError(
                    f"results store {path}: store format version {version or '(none)'}, "
                    f"this clustersim reads version {STORE_SCHEMA_VERSION}. Use the "
                    "clustersim that wrote it, or rerun the sweep into a new file with "
                    "--store OTHER.duckdb.",
                    str(path),
                )
        except StoreError:
            con.close()
            raise
        except Exception as exc:  # duckdb raises its own errors for damaged blocks
            con.close()
            raise StoreError(
                f"results store {path}: cannot be read ({first_line(exc)}); "
                "the file looks damaged. It was left as it is.",
                str(path),
            ) from exc
        return cls(path, con, read_only=True)

    # ------------------------------------------------------------------ writing

    def record(self, spec: RunSpec, result: RunResult) -> None:
        """Store one finished run (its runs row, summary and time series) in one transaction.

        A run already in the store (a failed run being retried) is replaced and its
        ``attempts`` counted up. Any error rolls the whole run back and is raised.
        """
        con = self._writable()
        row = spec.to_row()
        row.update(
            status=result.status,
            error=result.error,
            started=datetime.fromtimestamp(result.started, tz=UTC).replace(tzinfo=None),
            seconds=float(result.seconds),
            host=result.host,
            versions=canonical_json(result.versions),
        )
        done = result.status == "done"
        if done and result.timeseries is None:
            raise ValueError(f"run {spec.run_id}: a done result needs a time series")
        series = self._series_columns(spec.run_id, result.timeseries) if done else None
        con.execute("BEGIN TRANSACTION")
        try:
            previous = con.execute(
                "SELECT attempts FROM runs WHERE run_id = ?", [spec.run_id]
            ).fetchone()
            row["attempts"] = 1
            if previous is not None:
                row["attempts"] = int(previous[0]) + 1
                for table in ("timeseries", "summaries", "runs", *self._run_tables_present()):
                    con.execute(f"DELETE FROM {table} WHERE run_id = ?", [spec.run_id])
            names = list(row)
            con.execute(
                f"INSERT INTO runs ({_quoted(names)}) VALUES ({_marks(len(names))})",
                [row[name] for name in names],
            )
            if done:
                values = [
                    _sql_float(result.summary.get(name, math.nan)) for name in self._outcome_columns
                ]
                names = ["run_id", *self._outcome_columns]
                con.execute(
                    f"INSERT INTO summaries ({_quoted(names)}) VALUES ({_marks(len(names))})",
                    [spec.run_id, *values],
                )
                # a dict of numpy arrays is the fastest insert measured here (DuckDB scans
                # it in place; NaN becomes NULL): ~6 ms per 121-month run, against ~10 ms
                # for a DataFrame and ~110 ms for executemany
                # (``series`` is found by name: DuckDB's replacement scan of a local)
                columns = _quoted(list(series))
                con.execute(f"INSERT INTO timeseries ({columns}) SELECT {columns} FROM series")
                self._insert_run_tables(spec.run_id, result.tables or {})
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            raise

    def _run_tables_present(self) -> list[str]:
        """The ``run_<name>`` tables this store has (created when a run first kept one)."""
        names = {row[0] for row in self._connection().execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        return [f"run_{name}" for name in RUN_TABLE_COLUMNS if f"run_{name}" in names]

    def _insert_run_tables(self, run_id: str, tables: dict[str, pd.DataFrame]) -> None:
        """Insert a run's per-run tables (inside the run's transaction), creating them first."""
        con = self._connection()
        for name, frame in tables.items():
            columns = RUN_TABLE_COLUMNS[name]
            declared = ", ".join(f'"{c}" {kind}' for c, kind in columns)
            con.execute(f"CREATE TABLE IF NOT EXISTS run_{name} (run_id VARCHAR NOT NULL, {declared})")
            if not len(frame):
                continue
            rows = frame[[c for c, _ in columns]].assign(run_id=run_id)  # noqa: F841 (scanned)
            names = _quoted(["run_id", *[c for c, _ in columns]])
            con.execute(f"INSERT INTO run_{name} ({names}) SELECT {names} FROM rows")

    def run_table(self, name: str) -> pd.DataFrame:
        """The per-run table ``name`` (clustersim/run_tables.py) of every run; empty if none
        kept it."""
        if name not in RUN_TABLE_COLUMNS:
            raise StoreError(f"results store {self.path}: no per-run table {name!r} (there are "
                             f"{', '.join(RUN_TABLE_COLUMNS)})", str(self.path))
        if f"run_{name}" not in self._run_tables_present():
            import pandas as pd

            return pd.DataFrame(columns=["run_id", *[c for c, _ in RUN_TABLE_COLUMNS[name]]])
        return self.query(f"SELECT * FROM run_{name} ORDER BY run_id")

    def _series_columns(self, run_id: str, frame: pd.DataFrame | None) -> dict[str, np.ndarray]:
        """A run's time series as column arrays in the table's order (missing → NULL)."""
        assert frame is not None
        n = len(frame)
        series: dict[str, np.ndarray] = {
            "run_id": np.full(n, run_id, dtype=object),
            "step": frame["step"].to_numpy(dtype=np.int32),
        }
        for name in self._metric_columns:
            series[name] = (
                frame[name].to_numpy(dtype=np.float64)
                if name in frame.columns
                else np.full(n, np.nan)
            )
        return series

    # ------------------------------------------------------------------ reading

    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dict."""
        return dict(self._connection().execute("SELECT key, value FROM meta").fetchall())

    def finished_ids(self) -> set[str]:
        """Run ids stored as done (a sweep skips them)."""
        return self._ids("done")

    def failed_ids(self) -> set[str]:
        """Run ids stored as failed (a sweep reruns them only when asked to)."""
        return self._ids("failed")

    def counts(self) -> dict[str, int]:
        """Stored runs by status, e.g. ``{"done": 230, "failed": 2}``."""
        rows = (
            self._connection()
            .execute("SELECT status, count(*) FROM runs GROUP BY status")
            .fetchall()
        )
        return {status: int(count) for status, count in rows}

    def runs(self) -> pd.DataFrame:
        """The ``runs`` table, by design point and replication."""
        return self.query("SELECT * FROM runs ORDER BY point, replication, run_id")

    def summaries(self) -> pd.DataFrame:
        """The ``summaries`` table (one row per done run), by run id."""
        return self.query("SELECT * FROM summaries ORDER BY run_id")

    def timeseries(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The ``timeseries`` table (or some of its metric columns), by run id and month."""
        chosen = "*" if columns is None else _quoted(["run_id", "step", *columns])
        return self.query(f"SELECT {chosen} FROM timeseries ORDER BY run_id, step")

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Any SQL over the store's tables, as a DataFrame."""
        return self._connection().execute(sql, params or []).df()

    def spec(self, run_id: str) -> RunSpec:
        """The spec of a stored run, to reproduce it alone (``execute(store.spec(id))``)."""
        cursor = self._connection().execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        row = cursor.fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        names = [column[0] for column in cursor.description]
        return RunSpec.from_row(dict(zip(names, row, strict=True)))

    def export_parquet(self, directory: str | Path) -> list[Path]:
        """Write each table to ``directory/<table>.parquet`` (each file replaced atomically)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        orders = {
            "meta": "key",
            "runs": "point, replication, run_id",
            "summaries": "run_id",
            "timeseries": "run_id, step",
        }
        written = []
        for table in self._run_tables_present():
            orders[table] = "run_id"
        for table in (*TABLES, *self._run_tables_present()):
            target = directory / f"{table}.parquet"
            temporary = directory / f".{table}.parquet.{uuid.uuid4().hex[:8]}.tmp"
            try:
                self._connection().execute(
                    f"COPY (SELECT * FROM {table} ORDER BY {orders[table]}) "
                    f"TO '{_sql_text(temporary)}' (FORMAT parquet)"
                )
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
            written.append(target)
        return written

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the file (a sweep's writer checkpoints it first); safe to call twice."""
        if self._con is not None:
            con, self._con = self._con, None
            try:
                if not self.read_only:
                    with contextlib.suppress(Exception):
                        con.execute("CHECKPOINT")
            finally:
                con.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        state = "closed" if self._con is None else mode
        return f"ResultsStore({str(self.path)!r}, {state})"

    # ------------------------------------------------------------------ internals

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError(f"results store {self.path}: already closed", str(self.path))
        return self._con

    def _writable(self) -> duckdb.DuckDBPyConnection:
        if self.read_only:
            raise StoreError(f"results store {self.path}: opened read-only", str(self.path))
        return self._connection()

    def _ids(self, status: str) -> set[str]:
        rows = (
            self._connection()
            .execute("SELECT run_id FROM runs WHERE status = ?", [status])
            .fetchall()
        )
        return {row[0] for row in rows}

    def _check_columns(self) -> None:
        """Refuse to append to a store whose outcome or metric columns are not this code's."""
        for table, wanted in (
            ("summaries", self._outcome_columns),
            ("timeseries", self._metric_columns),
        ):
            have = {
                row[0]
                for row in self._connection()
                .execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                    [table],
                )
                .fetchall()
            }
            missing = [name for name in wanted if name not in have]
            if missing:
                raise StoreError(
                    f"results store {self.path}: its {table} table has no column "
                    f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''} (written by "
                    "another version of clustersim). Rerun the sweep into a new file with "
                    "--store OTHER.duckdb.",
                    str(self.path),
                )


# ---------------------------------------------------------------------- helpers


def _value_columns() -> tuple[list[str], list[str]]:
    from clustersim.metrics import COLUMNS
    from clustersim.outcomes import OUTCOMES

    return list(COLUMNS), list(OUTCOMES)


def _wal_path(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _looks_like_duckdb(path: Path) -> bool:
    """A DuckDB file says ``DUCK`` at byte 8 (checked before DuckDB opens it: DuckDB would
    try to load an extension for, e.g., an SQLite file)."""
    try:
        with path.open("rb") as handle:
            return handle.read(12)[8:12] == b"DUCK"
    except OSError:
        return False


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection, with DuckDB's errors turned into StoreErrors that say what to do."""
    import duckdb

    try:
        if read_only:
            return duckdb.connect(str(path), read_only=True, config=dict(_SAFE_CONFIG))
        return duckdb.connect(str(path), config={**_SAFE_CONFIG, **_WRITER_CONFIG})
    except duckdb.Error as exc:
        text = str(exc)
        # DuckDB's words for a file another process holds; not any message with "block" in it
        if "could not set lock" in text.lower() or "conflicting lock" in text.lower():
            raise StoreError(
                f"results store {path}: in use by another process (a sweep still writing "
                f"it?): {first_line(exc)}. Wait until it ends, or use another file.",
                str(path),
            ) from exc
        if "not a valid DuckDB database" in text:
            raise StoreError(
                f"results store {path}: not a DuckDB file. Give the sweep another file with "
                "--store OTHER.duckdb; this one was left as it is.",
                str(path),
            ) from exc
        raise StoreError(
            f"results store {path}: cannot be opened ({first_line(exc)}); the "
            "file looks truncated or damaged. It was left as it is.",
            str(path),
        ) from exc


def _check_length(path: Path, con: duckdb.DuckDBPyConnection) -> None:
    """StoreError if the file is shorter than its own block count says (cut off in a copy):
    DuckDB would only notice when a query reaches the missing blocks."""
    block_size, total_blocks = con.execute(
        "SELECT block_size, total_blocks FROM pragma_database_size()"
    ).fetchone()
    expected = _FILE_HEADERS + int(block_size) * int(total_blocks)
    actual = path.stat().st_size
    if actual < expected:
        raise StoreError(
            f"results store {path}: the file is truncated ({actual:,} bytes; its blocks need "
            f"{expected:,}), e.g. by an interrupted copy; the file looks truncated or damaged. "
            "It was left as it is.",
            str(path),
        )


def _create(path: Path, meta: dict[str, str]) -> None:
    """Make a new store at ``path``: built under a temporary name, then renamed into place."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        con = duckdb.connect(str(temporary), config={**_SAFE_CONFIG, **_WRITER_CONFIG})
        try:
            con.execute("BEGIN TRANSACTION")
            for statement in schema_sql():
                con.execute(statement)
            rows = {**meta, "schema_version": str(STORE_SCHEMA_VERSION)}
            con.executemany(
                "INSERT INTO meta VALUES (?, ?)", [[key, str(value)] for key, value in rows.items()]
            )
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        if path.exists():  # another process made it meanwhile: never overwrite a store
            raise StoreError(
                f"results store {path}: appeared while this sweep was creating "
                "it; run the command again",
                str(path),
            )
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
        _wal_path(temporary).unlink(missing_ok=True)


def _quoted(names: list[str]) -> str:
    return ", ".join('"' + name.replace('"', '""') + '"' for name in names)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _sql_float(value: Any) -> float | None:
    """NaN is stored as NULL, so SQL's AVG and friends skip it."""
    value = float(value)
    return None if math.isnan(value) else value


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


__all__ = ["ResultsStore", "StoreError"]
