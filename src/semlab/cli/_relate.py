"""``semlab relate, predict-property`` (stage: relate)."""

from __future__ import annotations

from pathlib import Path

import typer

from semlab.cli import app

_PANEL = "Relate"


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
    from semlab.cli._progress import progress_bar
    from semlab.errors import ParameterError
    from semlab.relate import RelateConfig, relate_table

    if search is not None and pca is not None:
        raise ParameterError(
            "--search and --pca cannot be combined; search named features, or reduce them with --pca"
        )
    config = RelateConfig(
        features=features, search=search, model=model, cv=cv, formulas=tuple(formula), pca=pca, rank_by=rank_by,
        max_subsets=max_subsets, sample=sample, options={"alpha": alpha} if model == "ridge" else None,
        dropna=dropna, seed=seed, plots=plots,
    )  # fmt: skip
    with progress_bar(quiet=search is None) as bar:
        task = bar.add_task("searching feature subsets", total=None)
        run = relate_table(table, target, config=config, test=test, out=out or Path(f"relate-{target}"),
                           progress=lambda d, t: bar.update(task, completed=d, total=t))  # fmt: skip
    for line in run.summary():
        typer.echo(line)
    typer.echo(f"wrote {run.out}")


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
