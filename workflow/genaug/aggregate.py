"""Collect every cell's metrics.json into summary.csv: one tidy row per cell (pandas)."""

from __future__ import annotations

import pandas as pd

from .errors import GenaugError, rebuild_hint
from .io import read_json, write_csv

IDS = ["dataset", "classifier", "train_set", "model", "filter", "regime", "size", "size_value", "seed"]
COLUMNS = [
    *IDS, "status", "accuracy", "macro_f1", "n_real", "n_synthetic", "best_step", "steps_run", "stopped_by",
    "best_val_accuracy", "patience_steps", "max_steps",
    "wall_time_s", "machine", "augmentation", "reason",
]


def _check_fraction(field: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{field} is {value!r}, not a number in [0, 1]")


def _check_count(field: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field} is {value!r}, not a whole number >= 0")


def validate(metrics: dict) -> None:
    """Refuse a metrics.json whose values could not have come from train_clf (edited, damaged, or another tool's):
    a wrong value must stop aggregation with the file named, never reach the report as a number."""
    status = metrics.get("status", "ok")
    if status not in ("ok", "diverged"):
        raise ValueError(f"status is {status!r}, not 'ok' or 'diverged'")
    _check_count("seed", metrics["seed"])
    if status == "diverged":
        return
    for field in ("accuracy", "macro_f1"):
        _check_fraction(field, metrics[field])
    for field in ("n_real", "n_synthetic"):
        _check_count(field, metrics[field])
    if not isinstance(metrics["per_class"], dict) or not metrics["per_class"]:
        raise ValueError(f"per_class is {metrics['per_class']!r}, not a table of per-class scores")
    for name, scores in metrics["per_class"].items():
        for key in ("recall", "precision"):
            _check_fraction(f"per_class.{name}.{key}", scores[key])


def summary_row(metrics: dict) -> dict:
    """The flat row of one metrics.json: identifiers, status, headline scores, per-class recall columns.

    A cell whose generator diverged (status `diverged`) has no scores (empty) and its reason."""
    validate(metrics)
    if metrics.get("status") == "diverged":
        return {**{k: metrics[k] for k in IDS}, "status": "diverged", "reason": metrics["reason"],
                "n_real": metrics.get("n_real"), "n_synthetic": 0}
    row = {k: metrics[k] for k in COLUMNS
           if k not in ("status", "reason", "machine", "augmentation", "patience_steps", "max_steps")}
    row["patience_steps"] = (metrics.get("train") or {}).get("patience_steps")  # the rule the run trained by
    row["max_steps"] = (metrics.get("train") or {}).get("max_steps")
    row["status"], row["reason"] = metrics.get("status", "ok"), ""
    row["machine"] = metrics.get("machine", "")  # recorded since 2026-11-24
    row["augmentation"] = (metrics.get("classic") or {}).get("described", "")  # the classic arm's, in words
    for check in metrics.get("convergence_checks") or []:  # the same run stopped by a shorter rule
        row[check_column(check)] = check["accuracy"]
        row[check_column(check, "stopped_at")] = check["stopped_at"]
    for name, scores in metrics["per_class"].items():
        row[f"recall:{name}"] = scores["recall"]
    for name, scores in metrics["per_class"].items():
        row[f"precision:{name}"] = scores["precision"]
    return row


def check_column(check: dict, value: str = "accuracy") -> str:
    """The summary column of a convergence check's accuracy (or step it stopped at):
    <value>_check_p<patience>_c<cap>."""
    return f"{value}_check_p{check['patience_steps']}_c{check['max_steps']}"


def check_columns(df: pd.DataFrame) -> dict:
    """The accuracy columns of summary.csv's convergence checks, each with its check (check_column's inverse)."""
    out = {}
    for col in sorted(c for c in df.columns if c.startswith("accuracy_check_p")):
        patience, cap = col.removeprefix("accuracy_check_p").split("_c")
        out[col] = {"patience_steps": int(patience), "max_steps": int(cap)}
    return out


def aggregate(metric_paths: list, out) -> pd.DataFrame:
    """Read the metrics files and write summary.csv atomically."""
    rows = []
    for path in metric_paths:
        try:
            rows.append(summary_row(read_json(path)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            what = f"missing field {err}" if isinstance(err, KeyError) else str(err)
            raise GenaugError(f"{path}: not a valid metrics.json ({what}); {rebuild_hint(path)}") from err
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.reindex(columns=[*COLUMNS, *(c for c in df.columns if c not in COLUMNS)])
        df = df.sort_values(["dataset", "classifier", "train_set", "filter", "regime", "size_value", "model", "seed"],
                            kind="stable")
    write_csv(out, df)
    return df


def json_table(paths: list, out) -> pd.DataFrame:
    """Flatten JSON files (gen_metrics, probes) into one CSV: nested keys joined by ':' (per_class:3:fd),
    lists left out. Written atomically."""
    records = []
    for path in paths:
        try:
            records.append(read_json(path))
        except (OSError, ValueError) as err:
            raise GenaugError(f"{path}: not readable JSON ({err}); {rebuild_hint(path)}") from err
    df = pd.json_normalize(records, sep=":") if records else pd.DataFrame()
    df = df[[c for c in df.columns if not df[c].map(lambda v: isinstance(v, list)).any()]]
    write_csv(out, df)
    return df
