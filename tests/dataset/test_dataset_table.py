"""Descriptor tables: reading CSV/XLSX/Parquet and validating them into a Dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semlab.dataset import Dataset, read_table
from semlab.errors import MissingFileError, ParameterError, SemlabError, TableError


def _csv(folder: Path, text: str, name: str = "descriptors.csv") -> Path:
    path = folder / name
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def _error(path: Path, images: Path | None = None, **kwargs) -> str:
    with pytest.raises(TableError) as info:
        Dataset.from_table(path, images, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert path.name in message
    return message


GOOD = """
image,sample,anneal_temperature_c,burst_count,cooling
a0.tif,s1,800,10,air
a1.tif,s1,800,10,air
a2.tif,s2,850,12,furnace
a3.tif,s2,850,12,furnace
a4.tif,s3,900.5,14,quench
a5.tif,s3,900.5,,quench
"""


# ----------------------------------------------------------------------------- good tables


def test_valid_csv_gives_typed_dataset(images_dir):
    ds = Dataset.from_table(_csv(images_dir, GOOD))
    assert len(ds) == 6
    assert ds.samples == ["s1", "s2", "s3"]
    assert ds.numeric_columns == ("anneal_temperature_c", "burst_count")
    assert ds.categorical_columns == ("cooling",)
    assert ds.columns == ("anneal_temperature_c", "burst_count", "cooling")
    t = ds.table
    assert list(t.columns) == ["image", "path", "sample", "anneal_temperature_c", "burst_count", "cooling"]
    assert list(t.index) == [2, 3, 4, 5, 6, 7] and t.index.name == "row"
    assert t["anneal_temperature_c"].dtype == np.float64
    assert t["burst_count"].isna().sum() == 1
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in t["path"])
    assert ds.images_dir == images_dir
    assert ds.row_of(images_dir / "a4.tif") == 6
    assert ds.to_dict()["n_samples"] == 3


def test_whole_numbers_stay_integers_and_ids_stay_text(images_dir):
    path = _csv(images_dir, "image,sample,burst_count,batch\na0.tif,007,10,12\na1.tif,008,11,13")
    ds = Dataset.from_table(path, categorical=["batch"])
    assert ds.table["burst_count"].dtype == np.int64
    assert ds.table["sample"].tolist() == ["007", "008"]
    assert ds.table["batch"].tolist() == ["12", "13"]
    assert ds.categorical_columns == ("batch",)


def test_images_dir_and_subfolders_and_absolute_paths(tmp_path, images_dir):
    tables = tmp_path / "tables"
    tables.mkdir()
    sub = images_dir / "sub"
    sub.mkdir()
    shutil.move(images_dir / "a1.tif", sub / "a1.tif")
    text = f"image,sample\na0.tif,s1\nsub/a1.tif,s1\nsub\\a1.tif,s9\n{images_dir / 'a2.tif'},s2"
    path = _csv(tables, text.replace("sub\\a1.tif,s9\n", ""))
    ds = Dataset.from_table(path, images_dir)
    assert ds.table["path"].tolist() == [
        str(images_dir / "a0.tif"),
        str(sub / "a1.tif"),
        str(images_dir / "a2.tif"),
    ]
    # Windows separators are understood
    path = _csv(tables, "image,sample\nsub\\a1.tif,s1", name="win.csv")
    assert Dataset.from_table(path, images_dir).table["path"].tolist() == [str(sub / "a1.tif")]


def test_semicolon_csv_with_bom_and_capitalised_headers(images_dir):
    path = images_dir / "excel.csv"
    path.write_bytes("\ufeffImage;Sample;hardness_hv\na0.tif;s1;120\na1.tif;s2;130\n".encode())
    ds = Dataset.from_table(path)
    assert ds.samples == ["s1", "s2"]
    assert ds.numeric_columns == ("hardness_hv",)


def test_columns_keeps_a_subset(images_dir):
    ds = Dataset.from_table(_csv(images_dir, GOOD), columns=["cooling"])
    assert ds.columns == ("cooling",)
    assert "burst_count" not in ds.table


def test_numeric_given_makes_the_rest_categorical(images_dir):
    ds = Dataset.from_table(_csv(images_dir, GOOD), numeric=["burst_count"])
    assert ds.numeric_columns == ("burst_count",)
    assert ds.categorical_columns == ("anneal_temperature_c", "cooling")
    assert ds.table["anneal_temperature_c"].tolist()[0] == "800"


def test_missing_values_tokens_are_empty(images_dir):
    path = _csv(images_dir, "image,sample,x\na0.tif,s1,1.5\na1.tif,s1,NA\na2.tif,s2,\na3.tif,s2,n/a")
    ds = Dataset.from_table(path)
    assert ds.numeric_columns == ("x",)
    assert ds.table["x"].isna().sum() == 3


def test_csv_xlsx_parquet_round_trip(tmp_path, images_dir):
    frame = pd.DataFrame(
        {
            "image": [f"a{i}.tif" for i in range(6)],
            "sample": ["007", "007", "008", "008", "009", "009"],
            "anneal_time_h": [1.5, 1.5, 3.0, 3.0, 24.0, 24.0],
            "burst_count": [10, 10, 12, 12, 14, 14],
            "cooling": ["air", "air", "furnace", None, "quench", "quench"],
        }
    )
    frame.to_csv(images_dir / "t.csv", index=False)
    frame.to_excel(images_dir / "t.xlsx", index=False)
    frame.to_parquet(images_dir / "t.parquet", index=False)
    loaded = {s: Dataset.from_table(images_dir / f"t.{s}") for s in ("csv", "xlsx", "parquet")}
    reference = loaded["csv"]
    assert reference.numeric_columns == ("anneal_time_h", "burst_count")
    assert reference.categorical_columns == ("cooling",)
    assert reference.table["burst_count"].dtype == np.int64
    assert reference.table["sample"].tolist()[0] == "007"
    for suffix, ds in loaded.items():
        assert ds.numeric_columns == reference.numeric_columns, suffix
        assert ds.categorical_columns == reference.categorical_columns, suffix
        pd.testing.assert_frame_equal(ds.table, reference.table, obj=suffix)
    # read_table gives the same typed values without checking the images
    for suffix in ("csv", "xlsx", "parquet"):
        t = read_table(images_dir / f"t.{suffix}")
        assert t["anneal_time_h"].tolist() == frame["anneal_time_h"].tolist()
        assert t["sample"].tolist() == frame["sample"].tolist()
        assert t.index.tolist() == [2, 3, 4, 5, 6, 7]


def test_xlsx_row_numbers_match_the_spreadsheet(images_dir):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A2"] = "image"  # a blank row 1 above the header
    ws["B2"] = "sample"
    ws["C2"] = "load_n"
    ws.append(["a0.tif", "s1", 5])  # row 3
    ws.append([])  # blank row 4 (keeps its number)
    ws.append(["a1.tif", "s1", 6])  # row 5
    ws.append(["a2.tif", "s2", "six"])  # row 6
    ws.append(["a3.tif", "s2", 7])  # row 7
    path = images_dir / "descriptors.xlsx"
    wb.save(path)
    message = _error(path)
    assert "row 6, column 'load_n': 'six' is not a number" in message
    ds = Dataset.from_table(path, categorical=["load_n"])
    assert ds.table.index.tolist() == [3, 5, 6, 7]


# ----------------------------------------------------------------------------- bad tables


def test_stray_text_in_a_mostly_numeric_column(images_dir):
    text = GOOD.replace("a5.tif,s3,900.5,,quench", "a5.tif,s3,900.5,ten,quench")
    message = _error(_csv(images_dir, text))
    assert message == (
        "descriptors.csv row 7, column 'burst_count': 'ten' is not a number; "
        "fix the cell or declare the column categorical"
    ).replace("descriptors.csv", str(images_dir / "descriptors.csv"))
    # declaring it categorical accepts the table
    ds = Dataset.from_table(images_dir / "descriptors.csv", categorical=["burst_count"])
    assert "burst_count" in ds.categorical_columns


def test_non_number_in_declared_numeric_column(images_dir):
    text = GOOD.replace("a2.tif,s2,850,12,furnace", "a2.tif,s2,850,12,furnace").replace(
        "a3.tif,s2,850,12", "a3.tif,s2,hot,12"
    )
    message = _error(_csv(images_dir, text), numeric=["anneal_temperature_c", "burst_count"])
    assert "row 5, column 'anneal_temperature_c': 'hot' is not a number" in message
    assert "declared numeric" in message


def test_number_with_unit_or_decimal_comma_gets_a_hint(images_dir):
    path = _csv(images_dir, 'image,sample,size\na0.tif,s1,"1,5"\na1.tif,s1,2.5\na2.tif,s2,3\na3.tif,s2,5 um')
    message = _error(path, numeric=["size"])
    assert "row 2, column 'size': '1,5' is not a number" in message
    assert "decimal separator (1.5)" in message
    assert "1 more problem: row 5, column 'size'" in message
    with pytest.raises(TableError) as info:
        Dataset.from_table(path, numeric=["size"])
    assert "unit in the column name" in info.value.problems[1]


def test_missing_image_file(images_dir):
    message = _error(_csv(images_dir, GOOD.replace("a3.tif", "a33.tif")))
    assert "row 5, column 'image': file 'a33.tif' not found in" in message
    assert "--images-dir" in message


def test_wrong_images_dir_names_the_first_missing_row(tmp_path, images_dir):
    path = _csv(tmp_path, GOOD)  # table outside the images folder, images_dir not given
    message = _error(path)
    assert "row 2, column 'image': file 'a0.tif' not found" in message
    assert "and 5 more problems" in message
    with pytest.raises(MissingFileError, match="images folder not found"):
        Dataset.from_table(path, tmp_path / "nope")


def test_duplicate_image_path(images_dir):
    text = GOOD.replace("a4.tif,s3", "a1.tif,s3")
    message = _error(_csv(images_dir, text))
    assert "row 6, column 'image': 'a1.tif' is listed twice (also row 3)" in message


def test_duplicate_image_content(images_dir):
    shutil.copyfile(images_dir / "a2.tif", images_dir / "copy_of_a2.tif")
    text = GOOD.replace("a5.tif", "copy_of_a2.tif")
    message = _error(_csv(images_dir, text))
    assert "row 7, column 'image': 'copy_of_a2.tif' has the same content as 'a2.tif' (row 4)" in message
    assert len(Dataset.from_table(images_dir / "descriptors.csv", check_content=False)) == 6


@pytest.mark.parametrize("missing", ["image", "sample"])
def test_missing_required_column(images_dir, missing):
    frame = pd.read_csv(_csv(images_dir, GOOD)).drop(columns=missing)
    frame.to_csv(images_dir / "descriptors.csv", index=False)
    message = _error(images_dir / "descriptors.csv")
    assert f"row 1: no '{missing}' column" in message
    assert f"add a column named '{missing}'" in message


@pytest.mark.parametrize("option", ["numeric", "categorical", "columns"])
def test_unknown_column_referenced(images_dir, option):
    message = _error(_csv(images_dir, GOOD), **{option: ["burst_cnt"]})
    assert f"{option}= names column 'burst_cnt', which the table does not have" in message
    assert "burst_count" in message  # the columns it does have are listed


def test_conflicting_options(images_dir):
    path = _csv(images_dir, GOOD)
    with pytest.raises(ParameterError, match="both numeric= and categorical="):
        Dataset.from_table(path, numeric=["burst_count"], categorical=["burst_count"])
    with pytest.raises(ParameterError, match="'sample'"):
        Dataset.from_table(path, numeric=["sample"])


def test_empty_table(images_dir):
    message = _error(_csv(images_dir, "image,sample,x"))
    assert "header but no data rows" in message
    empty = images_dir / "empty.csv"
    empty.write_text("\n\n")
    assert "the file is empty" in _error(empty)


def test_empty_sample_cells(images_dir):
    text = GOOD.replace("a2.tif,s2", "a2.tif,").replace("a4.tif,s3", "a4.tif,  ")
    message = _error(_csv(images_dir, text))
    assert message.startswith(f"{images_dir / 'descriptors.csv'} row 4, column 'sample': empty")
    assert "1 more problem: row 6, column 'sample'" in message


def test_empty_image_cell_folder_and_non_image(images_dir):
    (images_dir / "notes.txt").write_text("x")
    (images_dir / "folder").mkdir()
    path = _csv(images_dir, "image,sample\n,s1\nfolder,s1\nnotes.txt,s2\na0.tif,s2")
    with pytest.raises(TableError) as info:
        Dataset.from_table(path)
    problems = info.value.problems
    assert "row 2, column 'image': empty" in problems[0]
    assert "row 3, column 'image': 'folder' is a folder" in problems[1]
    assert "row 4, column 'image': 'notes.txt' is not an image file" in problems[2]


def test_duplicate_and_empty_header_names(images_dir):
    message = _error(_csv(images_dir, "image,sample,x,x\na0.tif,s1,1,2"))
    assert "row 1, column 'x': the header names 'x' twice (columns C and D)" in message
    message = _error(_csv(images_dir, "image,sample,,y\na0.tif,s1,1,2"))
    assert "row 1, column C: the header cell is empty but row 2 has a value below it" in message
    # an unnamed column without values (trailing spreadsheet commas) is ignored
    ds = Dataset.from_table(_csv(images_dir, "image,sample,,\na0.tif,s1,,"))
    assert ds.columns == ()


def test_reserved_path_column(images_dir):
    message = _error(_csv(images_dir, "image,sample,path\na0.tif,s1,x"))
    assert "row 1, column 'path'" in message


def test_unknown_suffix_and_missing_table(images_dir):
    odd = images_dir / "descriptors.json"
    odd.write_text("{}")
    with pytest.raises(TableError, match=r"descriptors\.json: unknown table type '\.json'"):
        read_table(odd)
    with pytest.raises(MissingFileError, match="no such file"):
        read_table(images_dir / "nope.csv")
    broken = images_dir / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(TableError, match="cannot read as an Excel workbook"):
        read_table(broken)


def test_errors_are_semlab_errors(images_dir):
    with pytest.raises(SemlabError):
        Dataset.from_table(_csv(images_dir, "image,x\na0.tif,1"))


def test_from_frame_numbers_rows_like_a_spreadsheet(images_dir):
    frame = pd.DataFrame({"image": ["a0.tif", "a1.tif", "a2.tif"], "sample": ["s1", None, "s2"]})
    with pytest.raises(TableError, match=r"^mine row 3, column 'sample': empty"):
        Dataset.from_frame(frame, images_dir, name="mine")
    frame["sample"] = ["s1", "s1", "s2"]
    assert Dataset.from_frame(frame, images_dir).samples == ["s1", "s2"]
