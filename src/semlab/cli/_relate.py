"""``semlab relate, predict-property`` (stage: relate)."""

from __future__ import annotations

from pathlib import Path

import typer

from semlab.cli import app

_PANEL = "Relate"


def _num(v: float | None, fmt: str = ".3f") -> str:
    import math

    return "n/a" if v is None or not math.isfinite(v) else format(v, fmt)


@app.command("relate", rich_help_panel=_PANEL)
def relate(
    table: Path = typer.Argument(
        ..., help="Table with one row per specimen or image (.csv, .xlsx, .parquet)."
    ),
    target: str = typer.Option(
        ..., "--target", "-t", help="Property column to predict, e.g. conductivity_MS_per_m."
    ),
    features: str | None = typer.Option(
        None,
        "--features",
        "-f",
        help="Comma-separated feature columns; globs (f*) and ranges (f0..f1279) allowed. "
        "Default: every numeric column but the target (constant or incomplete columns left out).",
    ),
    search: int | None = typer.Option(
        None, "--search", "-k", help="Cross-validate every subset of up to K features and fit the best."
    ),
    model: str = typer.Option(
        "linear", "--model", "-m", help="linear, ridge or gbr (gradient-boosted trees)."
    ),
    cv: str = typer.Option("loo", "--cv", help="loo (leave-one-out) or a number of folds K."),
    test: Path | None = typer.Option(
        None, "--test", help="Held-out table with the same columns, scored at the end."
    ),
    formula: list[str] = typer.Option(
        [],
        "--formula",
        help="Engineered column 'name = expression' (numbers, columns, + - * / **, log, log10, exp, sqrt, abs); "
        'repeatable, e.g. --formula "alpha = -log(tortuosity)/log(relative_density)".',
    ),
    pca: int | None = typer.Option(
        None,
        "--pca",
        help="Reduce the features (e.g. CNN features f0..f1279) to K principal components first.",
    ),
    rank_by: str = typer.Option(
        "r2", "--rank-by", help="Order of the search: r2 (CV R²), aicc, bic or adjusted_r2."
    ),
    max_subsets: int = typer.Option(
        20000, "--max-subsets", help="Refuse (or --sample) searches with more subsets."
    ),
    sample: bool = typer.Option(
        False, "--sample", help="Search MAX_SUBSETS random subsets when there are more."
    ),
    alpha: float = typer.Option(1.0, "--alpha", help="ridge: L2 penalty on standardized coefficients."),
    dropna: bool = typer.Option(
        False, "--dropna", help="Drop rows with missing values instead of refusing them."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of K-fold shuffles, random subsets and gbr."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder (default relate-<target>)."),
    plots: bool = typer.Option(
        True, "--plots/--no-plots", help="Write parity, residual and SHAP plots (PNG)."
    ),
) -> None:
    """Relate a property to structure descriptors: regression validated by leave-one-out CV.

    Fits TARGET from the features (or, with --search K, from the subset of up to K features with the best cross-validated R²), reports LOOCV R², RMSE and MAE, coefficients with their sign stability across folds, AICc/BIC, SHAP importances, and warns when the table is too small for the fit.

    Writes OUT/config.json, metrics.json, model.json (enough for predict-property), predictions.csv, shap.csv, search.csv (with --search), parity.png, residuals.png, shap_bar.png and shap_beeswarm.png.

    Example: semlab relate structure.csv --target conductivity_MS_per_m --search 3 --out runs/conductivity
    """
    from semlab.errors import ParameterError
    from semlab.relate import fit_relation, save_run, search_features, shap_values

    if search is not None and pca is not None:
        raise ParameterError(
            "--search and --pca cannot be combined; search named features, or reduce them with --pca"
        )
    options = {"alpha": alpha} if model == "ridge" else None
    cv_arg: str | int = cv
    chosen: str | list[str] | None = features
    table_search = None
    if search is not None:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("searching feature subsets", total=None)
            table_search = search_features(
                table, target, features, max_features=search, model=model, cv=cv_arg, rank_by=rank_by,
                formulas=formula, max_subsets=max_subsets, sample=sample, seed=seed, dropna=dropna,
                options=options, progress=lambda d, t: bar.update(task, completed=d, total=t),
            )  # fmt: skip
        chosen = table_search["features"].iloc[0].split(",")
    result = fit_relation(
        table, target, chosen, model=model, cv=cv_arg, test=test, seed=seed, formulas=formula,
        pca=pca, dropna=dropna, options=options,
    )  # fmt: skip
    run_dir = out or Path(f"relate-{target}")
    inputs = [table] + ([test] if test is not None else [])
    save_run(
        result, run_dir, search=table_search, inputs=inputs, plots=plots,
        config={"command": "relate", "search": search, "rank_by": rank_by if search else None,
                "max_subsets": max_subsets, "sample": sample, "dropna": dropna},
    )  # fmt: skip

    s = result.cv_scores
    cv_label = "LOOCV" if result.cv == "loo" else f"{result.cv} CV"
    typer.echo(
        f"{target} ~ {' + '.join(result.features)}  ({result.model_kind}, {cv_label}, n = {result.n}, p = {result.p})"
    )
    typer.echo(
        f"  {cv_label} R² {_num(s.r2)}  RMSE {_num(s.rmse, '.4g')}  MAE {_num(s.mae, '.4g')}   "
        f"train R² {_num(result.train_scores.r2)}  adjusted R² {_num(result.adjusted_r2)}  "
        f"AICc {_num(result.aicc, '.4g')}  BIC {_num(result.bic, '.4g')}"
    )
    if result.test_scores is not None:
        t = result.test_scores
        typer.echo(
            f"  test (n = {t.n}) R² {_num(t.r2)}  RMSE {_num(t.rmse, '.4g')}  MAE {_num(t.mae, '.4g')}"
        )
    if result.coefficients is not None:
        typer.echo(f"  intercept {result.intercept:.6g}")
        for f, c in result.coefficients.items():
            typer.echo(
                f"  {f}: {c:+.6g}  (standardized {result.standardized_coefficients[f]:+.3f}, "
                f"sign agrees in {result.sign_agreement[f]:.0%} of folds)"
            )
    shap = shap_values(result)
    typer.echo("  mean |SHAP|: " + ", ".join(f"{k} {v:.4g}" for k, v in list(shap.mean_abs.items())[:8]))
    if table_search is not None:
        typer.echo(
            f"  searched {len(table_search)} of {table_search.attrs['total_subsets']} subsets; best five:"
        )
        r2col = [
            c for c in table_search.columns if c.endswith("_r2") and c not in ("train_r2", "adjusted_r2")
        ][0]
        for _, row in table_search.head(5).iterrows():
            typer.echo(
                f"    {row['rank']:>3}. {row[r2col]:.3f}  AICc {_num(row['aicc'], '.4g')}  {row['features']}"
            )
    typer.echo(f"wrote {run_dir}")


@app.command("predict-property", rich_help_panel=_PANEL)
def predict_property_cmd(
    model: Path = typer.Argument(..., help="Run folder of `semlab relate` (or its model.json)."),
    table: Path = typer.Argument(..., help="Table with the model's feature columns (.csv, .xlsx, .parquet)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="CSV to write (default <table>_predicted.csv)."
    ),
    dropna: bool = typer.Option(
        False, "--dropna", help="Predict NaN for rows with missing inputs instead of failing."
    ),
) -> None:
    """Predict a property with a model saved by `semlab relate`.

    Applies the model's formulas, then the model, and writes the table with a predicted_<target> column.

    Example: semlab predict-property runs/conductivity new_structure.csv --out predicted.csv
    """
    from semlab._util import atomic_path
    from semlab.relate import load_model, predict_property

    m = load_model(model)
    df = predict_property(m, table, dropna=dropna)
    dest = out or table.with_name(f"{table.stem}_predicted.csv")
    with atomic_path(dest) as tmp:
        df.to_csv(tmp, index=False)
    col = f"predicted_{m.target}"
    typer.echo(f"predicted {m.target} for {int(df[col].notna().sum())} of {len(df)} rows ({m.kind}) → {dest}")
