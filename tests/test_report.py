"""The HTML report: figures per design, a self-contained page, atomic writes, and the
``clustersim report`` command (exit 2 and nothing changed on a bad store)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from store_fixtures import copy_store, morris_store, policy_store, static_dynamic_store
from typer.testing import CliRunner

from clustersim import cli
from clustersim.experiments.analysis import load_results
from clustersim.experiments.report import (
    KEY_SERIES,
    _fmt,
    build_figures,
    render_report,
    write_report,
)
from clustersim.experiments.spec import StoreError

runner = CliRunner()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def policy_results():
    return load_results(policy_store(), timeseries=KEY_SERIES)


@pytest.fixture(scope="module")
def policy_html(policy_results) -> str:
    return render_report(policy_results)


def outside_scripts(page: str) -> str:
    return re.sub(r"<script\b.*?</script>", "", page, flags=re.S)


# --------------------------------------------------------------------------- figures


def test_figures_for_a_policy_comparison(policy_results, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    figures = build_figures(policy_results)
    keys = [key for key, _ in figures]
    assert keys == ["outcomes", "differences", "value_for_money",
                    *(f"timeseries:{c}" for c in KEY_SERIES)]
    assert all(isinstance(fig, go.Figure) for _, fig in figures)
    assert list(tmp_path.iterdir()) == []  # pure: writes nothing
    outcomes = dict(figures)["outcomes"]
    assert {t.name for t in outcomes.data} == {"baseline", "brokers", "hubs"}
    assert sum(t.showlegend is not False for t in outcomes.data) == 3  # one legend entry per arm
    differences = dict(figures)["differences"]
    assert {t.name for t in differences.data} == {"brokers", "hubs"}  # not the baseline
    assert all(s.x0 == 0 for s in differences.layout.shapes)  # zero lines
    revenue = dict(figures)["timeseries:revenue"]
    shocks = [s for s in revenue.layout.shapes if s.type == "rect"]
    assert [(s.x0, s.x1) for s in shocks] == [(6, 9)]  # only in the covid panel


def test_figures_for_static_vs_dynamic() -> None:
    figures = dict(build_figures(load_results(static_dynamic_store())))
    assert "network:innovations" in figures and "network:revenue" in figures
    assert "differences" not in figures  # one arm
    heatmap = figures["network:innovations"]
    assert [t.type for t in heatmap.data] == ["heatmap", "heatmap"]
    assert list(heatmap.data[1].y) == ["static − dynamic"]
    assert {t.name for t in figures["outcomes"].data} == {"static", "dynamic"}
    bands = [t for t in figures["timeseries:revenue"].data if t.fill == "toself"]
    assert bands and all(t.mode == "lines" for t in bands)  # no markers on the CI outline


def test_figures_for_a_morris_design() -> None:
    figures = dict(build_figures(load_results(morris_store())))
    assert set(figures) == {"sensitivity:mu_star", "sensitivity:mu_sigma"}
    bars = figures["sensitivity:mu_star"]
    assert {t.type for t in bars.data} == {"bar"}
    assert set(bars.data[0].y) == {"market.volatility", "region.cooperativeness",
                                   "region.initial_ties_per_firm", "market.novelty_growth"}


# --------------------------------------------------------------------------- the page


def test_report_is_self_contained(policy_html: str) -> None:
    from plotly.offline import get_plotlyjs

    assert not re.search(r"<script[^>]*\bsrc\s*=", policy_html)
    assert not re.search(r"<link\b", policy_html)
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", outside_scripts(policy_html))
    assert policy_html.count(get_plotlyjs()[:300]) == 1  # plotly.js embedded once
    assert policy_html.count("Plotly.newPlot(") == 8


def test_report_has_each_section(policy_html: str) -> None:
    for section in ("design", "outcomes", "differences", "value_for_money", "timeseries",
                    "failed"):
        assert f"<section id='{section}'>" in policy_html
    for absent in ("network", "sensitivity", "distribution"):
        assert f"<section id='{absent}'>" not in policy_html
    text = outside_scripts(policy_html)
    assert "<h1>tiny_policy: results</h1>" in text
    assert "Three arms under no shock and a demand drop (test)." in text
    assert "23 done" in text and "1 failed" in text
    assert "master seed 1000" in text and "clustersim 0.1.0" in text
    assert "RuntimeError: the test made this run fail" in text
    assert "brokers | shock=none" in text


def test_report_tables_are_rounded(policy_html: str) -> None:
    tables = re.findall(r"<table\b[^>]*>.*?</table>", outside_scripts(policy_html),
                        flags=re.S)
    assert len(tables) >= 5
    numbers = re.findall(r"[−+]?\d[\d,]*\.?\d*", " ".join(tables))
    assert numbers
    assert not [n for n in numbers if re.search(r"\.\d{4,}", n)], "unrounded numbers"


def test_report_sections_follow_the_design() -> None:
    static = render_report(load_results(static_dynamic_store()))
    assert "<section id='network'>" in static and "<section id='differences'>" not in static
    assert "static − dynamic at volatility" in static
    morris = render_report(load_results(morris_store()), title="Screening")
    assert "<h1>Screening</h1>" in morris
    for section in ("sensitivity", "distribution"):
        assert f"<section id='{section}'>" in morris
    assert "<section id='outcomes'>" not in morris
    assert "Sensitivity analysis: Morris" in morris


@pytest.mark.parametrize(("value", "signed", "text"), [
    (12345.678, False, "12,346"), (123.456, False, "123.5"), (1.23456, False, "1.23"),
    (0.0123456, False, "0.012"), (0.00001234, False, "1.2e−05"), (0, False, "0"),
    (-2.5, True, "−2.50"), (2.5, True, "+2.50"), (float("nan"), False, "–"), (None, False, "–"),
])
def test_numbers_are_formatted_for_reading(value, signed, text) -> None:
    assert _fmt(value, signed=signed) == text


def test_write_report_is_atomic_and_replaces(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "report.html"
    assert write_report(policy_store(), out) == out
    first = out.read_text(encoding="utf-8")
    assert first.startswith("<!DOCTYPE html>") and first.rstrip().endswith("</html>")
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # readable like any other file
    write_report(static_dynamic_store(), out, title="Again")
    assert "<h1>Again</h1>" in out.read_text(encoding="utf-8")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left


def test_write_report_on_a_bad_store_leaves_the_output_alone(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("previous report", encoding="utf-8")
    with pytest.raises(StoreError):
        write_report(tmp_path / "missing.duckdb", out)
    assert out.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_write_report_refuses_to_overwrite_the_store(tmp_path: Path) -> None:
    store = copy_store(policy_store(), tmp_path)
    before = digest(store)
    with pytest.raises(StoreError, match="is the results store itself"):
        write_report(store, store)
    assert digest(store) == before


# --------------------------------------------------------------------------- the command


def test_cli_report_writes_the_html(tmp_path: Path) -> None:
    store = copy_store(policy_store(), tmp_path)
    before = digest(store)
    out = tmp_path / "out" / "report.html"
    result = runner.invoke(cli.app, ["report", str(store), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    assert "<section id='differences'>" in out.read_text(encoding="utf-8")
    assert digest(store) == before


def test_cli_report_default_output_next_to_the_store(tmp_path: Path) -> None:
    store = copy_store(morris_store(), tmp_path)
    result = runner.invoke(cli.app, ["report", str(store), "--title", "Morris screening"])
    assert result.exit_code == 0, result.output
    assert "<h1>Morris screening</h1>" in store.with_suffix(".html").read_text(encoding="utf-8")


def corrupt(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.seek(4096)
        handle.write(b"\xff" * 8192)


@pytest.mark.parametrize(("case", "fragment"), [
    ("missing", "no such file"),
    ("garbage", "not a DuckDB file"),
    ("corrupt", "orrupt"),  # DuckDB's "Corrupt database file", in the store's message
    ("schema", "version 7"),
])
def test_cli_report_bad_store_exits_2_and_changes_nothing(tmp_path: Path, case: str,
                                                          fragment: str) -> None:
    import duckdb

    if case == "missing":
        store = tmp_path / "missing.duckdb"
    elif case == "garbage":
        store = tmp_path / "garbage.duckdb"
        store.write_text("hello\n" * 50, encoding="utf-8")
    else:
        store = copy_store(policy_store(), tmp_path)
        if case == "corrupt":
            corrupt(store)
        else:
            con = duckdb.connect(str(store))
            con.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
            con.close()
    before = digest(store) if store.exists() else None
    out = tmp_path / "report.html"
    result = runner.invoke(cli.app, ["report", str(store), "-o", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(store) in lines[0]
    assert fragment in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()
    if before is not None:
        assert digest(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [store.name] if store.exists() else [])


def test_cli_report_output_is_a_folder(tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["report", str(policy_store()), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a folder" in result.stderr


def test_cli_report_corrupt_store_is_not_called_busy(tmp_path: Path) -> None:
    store = copy_store(policy_store(), tmp_path)
    corrupt(store)
    result = runner.invoke(cli.app, ["report", str(store), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "another process" not in result.stderr


# --------------------------------------------------------------------------- the answer


def test_verdict_table_ranks_arms_per_shock(policy_results) -> None:
    from clustersim.experiments.verdict import COLUMNS, HEADLINE_OUTCOMES, verdict_table
    table = verdict_table(policy_results)
    assert list(table.columns) == COLUMNS
    assert list(dict.fromkeys(table["level"])) == ["shock=none", "shock=covid"]
    assert set(table["outcome"]) == set(HEADLINE_OUTCOMES)
    per_cell = table.groupby(["level", "outcome"])
    assert (per_cell.size() == len(policy_results.arms)).all()
    assert (per_cell["rank"].min() == 1).all()
    base = table[table["arm"] == policy_results.baseline_arm]
    assert (base["difference"] == 0).all() and (base["reading"] == "reference").all()
    arms = table[table["arm"] != policy_results.baseline_arm]
    excludes_0 = ((arms["ci_low"] > 0) | (arms["ci_high"] < 0)) & (arms["n"] >= 3)
    assert (arms["supported"] == excludes_0).all()
    # brokers put firms into formal networks; the fixture's hubs do not
    brokers = arms[(arms["arm"] == "brokers") & (arms["outcome"] == "formal_network_share")]
    assert brokers["supported"].all() and (brokers["rank"] == 1).all()
    # cost per unit only where the effect is supported and good, from the money spent
    costed = arms[arms["keur_per_unit"].notna()]
    assert costed["supported"].all()
    row = brokers.iloc[0]
    assert row["keur_per_unit"] == pytest.approx(row["extra_spend"] / (row["difference"] * 100))
    assert row["keur_per_unit_low"] <= row["keur_per_unit"] <= row["keur_per_unit_high"]


def test_verdict_words_and_money_come_from_the_store(policy_results) -> None:
    from clustersim.experiments.verdict import (
        money_sentence,
        spend_table,
        verdict_sentences,
        verdict_table,
    )
    spend = spend_table(policy_results).set_index("arm")
    assert spend.loc["baseline", "spent"] == 0
    assert spend.loc["brokers", "budget"] == spend.loc["hubs", "budget"]
    sentence = money_sentence(policy_results)
    assert "same budget" in sentence and "spent different amounts" in sentence
    words = dict(verdict_sentences(verdict_table(policy_results)))
    assert set(words) == {"shock=none", "shock=covid"}
    assert any("brokers raises" in line for line in words["shock=covid"])
    assert any("95% CI includes 0" in line for line in words["shock=covid"])


def test_verdict_comes_first_in_the_report(policy_html: str) -> None:
    body = outside_scripts(policy_html)
    assert body.index("id='verdict'") < body.index("class=\"facts\"")
    assert "id='verdict-table'" in body
    assert "5,000 k€" not in body and "1,000 k€ each" not in body


def test_verdict_without_a_second_arm_is_empty() -> None:
    from clustersim.experiments.verdict import verdict_table
    assert verdict_table(load_results(morris_store())).empty


def test_a_zero_width_or_two_pair_interval_supports_nothing() -> None:
    from clustersim.experiments.verdict import _supported
    assert _supported(0.5, 2.0, 4) and _supported(-2.0, -0.5, 3)
    assert not _supported(-1.0, 2.0, 10)  # includes 0
    assert not _supported(-1.0, -1.0, 4)  # every pair differed by the same amount
    assert not _supported(0.5, 2.0, 2)  # two pairs are too few
