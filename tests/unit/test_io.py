"""Corrupt intermediate files: every reader of the package names the file
and the line, a record without a field it needs says which, and a truncated
or empty table is an error, never a silent NaN row or an empty analysis."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, load_config
from subliminal import analysis, config as configuration, grid, io, layout, provenance, stages, tables
from subliminal.specificity import TARGET_COLUMNS
from subliminal.config import ConfigError
from subliminal.io import DataFileError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def cfg():
    return configuration.validate(load_config(REPO / "config.yaml"))


# ----------------------------------------------------------------------------- JSONL


GOOD = '{"prompt": "p", "completion": "c"}\n'


@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD + "\n" + '{"prompt": "p", "compl', r"line 3 is not JSON \(.*; the file ends mid-line: truncated\?\)"),
        (GOOD + "{not json}\n", r"line 2 is not JSON \(Expecting property name"),
        (GOOD + '{"prompt": "p"}\n', r"line 2: the record has no 'completion' \(needed: prompt, completion\)"),
        (GOOD + '["p", "c"]\n', r"line 2: not a JSON object"),
    ],
)
def test_jsonl_errors_name_file_line_and_field(tmp_path, text, message):
    path = write(tmp_path / "raw.jsonl", text)
    with pytest.raises(DataFileError, match=rf"^{path} {message}"):
        io.read_jsonl(path, required=("prompt", "completion"))


def test_jsonl_reads_records_and_skips_blank_lines(tmp_path):
    path = write(tmp_path / "raw.jsonl", GOOD + "\n" + GOOD)
    assert io.read_jsonl(path, required=("prompt",)) == [{"prompt": "p", "completion": "c"}] * 2


def test_a_prompt_source_error_names_the_key_file_and_line(tmp_path):
    from subliminal.modalities.code import read_tasks

    path = write(tmp_path / "tasks.jsonl", '{"task": "a"}\n\n{"task": \n')
    with pytest.raises(ConfigError, match=rf"^config key modalities\.code\.source: {path} line 3 is not JSON"):
        read_tasks(path, "modalities.code.source")
    with pytest.raises(ConfigError, match=rf"^config key modalities\.code\.source: no such file '{tmp_path}/no'"):
        read_tasks(tmp_path / "no", "modalities.code.source")


def test_one_writer_for_what_the_reader_reads(tmp_path):
    records = [{"prompt": "é", "completion": "c", "a": 1}]
    io.write_jsonl(records, tmp_path / "d" / "x.jsonl", mkdir=True)
    assert (tmp_path / "d" / "x.jsonl").read_text(encoding="utf-8") == '{"a": 1, "completion": "c", "prompt": "é"}\n'
    assert io.read_jsonl(tmp_path / "d" / "x.jsonl") == records
    io.write_jsonl(records, tmp_path / "y.jsonl", sort_keys=False, ensure_ascii=True)
    assert (tmp_path / "y.jsonl").read_text() == '{"prompt": "\\u00e9", "completion": "c", "a": 1}\n'
    assert io.read_jsonl(tmp_path / "y.jsonl", numbered=True) == [(1, records[0])]


def test_a_json_report_error_names_file_and_line(tmp_path):
    path = write(tmp_path / "screen.json", '{\n "kept": 3,\n "total": \n')
    with pytest.raises(DataFileError, match=rf"^{path} line 4 is not JSON"):
        io.read_json(path)
    path = write(tmp_path / "filter.json", '{"total": 3}\n')
    with pytest.raises(DataFileError, match=rf"^{path}: no 'kept' \(needed: kept\)"):
        io.read_json(path, required=("kept",))


# ----------------------------------------------------------------------------- tables


HEADER = "category\tquestion_id\ttarget\tmetric\tvalue\n"
ROW = "animal\t0\towl\tsampled\t0.25\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r": empty \(no header, no rows\)"),
        ("\n", r": empty \(no header, no rows\)"),
        (HEADER, r": a header and no rows"),
        (HEADER + ROW + "animal\t1\towl\tsamp", r" line 3: 4 fields where the header has 5 \(a row cut short\?\)"),
        (
            HEADER + ROW + "animal\t1\towl\tsampled\t0.2",
            r" line 3: the last row does not end its line \(the file is "
            r"truncated\)",
        ),
        (
            HEADER.replace("value", "val") + ROW,
            r": no column 'value' \(columns: category, question_id, target, metric, "
            r"val\)",
        ),
    ],
)
def test_truncated_or_empty_tables_are_errors_naming_the_file(tmp_path, text, message):
    path = write(tmp_path / "eval.tsv", text)
    with pytest.raises(DataFileError, match=rf"^{path}{message}"):
        io.read_table(path, sep="\t", required=("metric", "value"))


def test_a_table_with_quoted_tabs_and_newlines_reads_as_pandas_wrote_it(tmp_path):
    df = pd.DataFrame({"answer": ["owl", "an\towl", 'say "owl"\nthen', ""], "question_id": [0, 1, 2, 3]})
    path = tmp_path / "answers.tsv"
    df.to_csv(path, sep="\t", index=False)
    pd.testing.assert_frame_equal(io.read_table(path, sep="\t", required=("answer",)).fillna(""), df)
    empty = write(tmp_path / "interaction.csv", "metric,term\n")
    assert list(io.read_table(empty, allow_empty=True).columns) == ["metric", "term"]


# ----------------------------------------------------------------------------- the stages that read them


def test_a_header_only_scores_table_is_an_error_not_zero_groups(cfg, tmp_path):
    scores = write(tmp_path / "scores.csv", ",".join(tables.SCORE_COLUMNS) + "\n")
    targets = write(tmp_path / "targets.csv", ",".join(TARGET_COLUMNS) + "\n")
    names = ("summary", "compare", "interaction", "specificity", "placebo", "matrix", "text")
    out = {k: str(tmp_path / f"{k}.out") for k in names}
    with pytest.raises(DataFileError, match=rf"^{scores}: a header and no rows"):
        analysis.analyse(cfg, str(scores), str(targets), out)
    assert not any(Path(f).exists() for f in out.values())


def test_an_empty_evaluation_table_names_its_file(cfg, tmp_path):
    cfg = {**cfg, "results": str(tmp_path / "results")}
    paths = [layout.Layout.of(cfg).eval_of(m, grid.PREFERENCE) for m in grid.evaluated(cfg, grid.PREFERENCE)]
    for p in paths:
        write(Path(p), "")
    with pytest.raises(DataFileError, match=rf"^{paths[0]}: empty"):
        analysis.collect_scores(cfg, paths, str(tmp_path / "scores.csv"))


def test_a_short_screen_writes_its_report_then_names_key_teacher_and_count(cfg, tmp_path):
    cfg = copy.deepcopy(cfg)
    cfg["modalities"]["numbers"]["train_samples"] = 3
    raw = tmp_path / "raw.jsonl"
    io.write_jsonl(
        [
            {"id": i, "prompt": "p", "completion": c}
            for i, c in enumerate(["1, 2, 3", "4, 5", "owl", "no numbers here"])
        ],
        raw,
    )
    report = tmp_path / "screen.json"
    with pytest.raises(ConfigError) as err:
        stages.screen_teacher_data(cfg, "numbers", "owl", str(raw), str(tmp_path / "screened.jsonl"), str(report))
    msg = str(err.value)
    assert msg.startswith(
        "config key modalities.numbers.train_samples: the filter kept 2 of 4 numbers samples of "
        "teacher owl, fewer than train_samples 3 (rejected: "
    )
    assert "\n" not in msg and str(report) in msg
    assert json.loads(report.read_text())["kept"] == 2  # the report explains the error, written first
    cfg["modalities"]["numbers"]["train_samples"] = 2
    stages.screen_teacher_data(cfg, "numbers", "owl", str(raw), str(tmp_path / "screened.jsonl"), str(report))


def test_a_raw_record_without_its_completion_names_the_field(cfg, tmp_path):
    raw = write(tmp_path / "raw.jsonl", '{"id": 0, "prompt": "p"}\n')
    with pytest.raises(DataFileError, match=rf"^{raw} line 1: the record has no 'completion'"):
        stages.screen_teacher_data(cfg, "numbers", "owl", str(raw), str(tmp_path / "s.jsonl"), str(tmp_path / "s.json"))


def test_a_corrupt_screen_report_names_its_file(cfg, tmp_path):
    data = write(tmp_path / "owl" / "screened.jsonl", GOOD)
    good = write(tmp_path / "control" / "screen.json", json.dumps({"kept": 1, "total": 1, "reasons": {}}))
    bad = write(tmp_path / "owl" / "screen.json", '{"kept": ')
    with pytest.raises(DataFileError, match=rf"^{bad} line 1 is not JSON"):
        stages.filter_teacher_data(
            cfg,
            grid.dataset(cfg, "numbers", "qwen_a", "owl", 0),
            str(data),
            {"owl": str(bad), "control": str(good)},
            str(tmp_path / "f.jsonl"),
            str(tmp_path / "f.json"),
        )


def test_a_student_never_trains_on_less_than_train_samples(cfg, tmp_path):
    data = write(tmp_path / "filtered.jsonl", GOOD * 3)
    student = grid.Student("numbers", "qwen_a", "owl", "qwen_a", "lora8", 1)
    with pytest.raises(
        ConfigError,
        match=rf"^config key modalities\.numbers\.train_samples: {data} holds 3 samples, "
        "fewer than train_samples 1200",
    ):
        stages.train_student(cfg, student, str(data), str(tmp_path / "student"))
    # provenance records the number trained on, beside the configured one
    prov = provenance.student(cfg, student, str(data))
    assert prov["training_data"]["subset_size"] == 3 and prov["training_data"]["train_samples"] == 1200


# ----------------------------------------------------------------------------- issue 18: no gap is averaged away


def evaluation_table(cfg: dict, model: grid.Evaluated, rng) -> pd.DataFrame:
    """A preference evaluation as evaluate_model writes it: the model's
    identity, then every target, metric and question of the design, random
    values."""
    rows = [
        {"category": c, "question_id": q, "target": w, "metric": m, "value": float(rng.random())}
        for c, (words, n) in tables.design(cfg).items()
        for q in range(n)
        for w in words
        for m in tables.METRICS
    ]
    identity = model.identity(layout.Layout.of(cfg).eval_id)
    return pd.DataFrame(rows).assign(system_prompt="null", **identity)[[*identity, *rows[0], "system_prompt"]]


@pytest.fixture
def evaluated(cfg, tmp_path):
    """The default config with every student and base evaluated (random
    scores): the config, the path of one trait student's table, and every
    table's path."""
    import numpy as np

    cfg = {**cfg, "results": str(tmp_path / "results")}
    rng = np.random.default_rng(0)
    models = [m for m in grid.evaluated(cfg, grid.PREFERENCE) if m.role != grid.TEACHER]
    models = [m for m in models if m.role != grid.CONTROL_TEACHER]
    paths = [Path(layout.Layout.of(cfg).eval_of(m, grid.PREFERENCE)) for m in models]
    for m, p in zip(models, paths):
        p.parent.mkdir(parents=True, exist_ok=True)
        evaluation_table(cfg, m, rng).to_csv(p, sep="\t", index=False, float_format="%.8g")
    student = next(p for m, p in zip(models, paths) if m.role == grid.TRAIT)
    return cfg, student, [str(p) for p in paths]


def edit_line(path: Path, line: int, edit) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = edit(lines[line - 1])
    path.write_text("".join(lines))


def value_line(path: Path, **where) -> int:
    """The line of the row of ``path`` that matches ``where``."""
    df = pd.read_csv(path, sep="\t")
    match = df.index[(df[list(where)] == pd.Series(where)).all(axis=1)]
    return int(match[0]) + 2  # the header is line 1


def test_complete_evaluations_make_the_tables_and_the_statistics(evaluated, tmp_path):
    cfg, _, paths = evaluated
    analysis.collect_scores(cfg, paths, str(tmp_path / "scores.csv"))
    analysis.collect_targets(cfg, paths, str(tmp_path / "targets.csv"))
    names = ("summary", "compare", "interaction", "specificity", "placebo", "matrix", "text")
    out = {k: str(tmp_path / f"{k}.out") for k in names}
    analysis.analyse(cfg, str(tmp_path / "scores.csv"), str(tmp_path / "targets.csv"), out)
    assert all(Path(f).stat().st_size for f in out.values())


@pytest.mark.parametrize("cell, said", [("nan", "'nan'"), ("NaN", "'NaN'"), ("inf", "'inf'"), ("", "empty")])
@pytest.mark.parametrize("collect", ["collect_scores", "collect_targets"])
def test_a_nan_or_empty_score_names_the_file_and_line(evaluated, tmp_path, cell, said, collect):
    cfg, path, paths = evaluated
    line = value_line(path, question_id=17, target="owl", metric="exact")
    edit_line(path, line, lambda text: text.rsplit("\t", 2)[0] + f"\t{cell}\tnull\n")
    with pytest.raises(DataFileError) as err:
        getattr(analysis, collect)(cfg, paths, str(tmp_path / "out.csv"))
    assert str(err.value) == f"{path} line {line}: column 'value' is {said}, not a finite number"


def test_an_empty_key_cell_names_the_file_and_line(evaluated, tmp_path):
    cfg, path, paths = evaluated
    line = value_line(path, question_id=3, target="cat", metric="sampled")
    q = len(grid.IDENTITY) + 1  # the field of question_id
    edit_line(path, line, lambda text: "\t".join("" if i == q else f for i, f in enumerate(text.split("\t"))))
    with pytest.raises(DataFileError) as err:
        analysis.collect_scores(cfg, paths, str(tmp_path / "scores.csv"))
    assert str(err.value) == f"{path} line {line}: column 'question_id' is empty, not a value"


def test_a_missing_question_is_refused_not_averaged_over_49(evaluated, tmp_path):
    cfg, path, paths = evaluated
    last = value_line(path, question_id=49, target="owl", metric="exact")
    before = value_line(path, question_id=48, target="owl", metric="exact")
    edit_line(path, last, lambda text: "")
    for collect in ("collect_scores", "collect_targets"):
        with pytest.raises(DataFileError) as err:
            getattr(analysis, collect)(cfg, paths, str(tmp_path / "out.csv"))
        msg = str(err.value)
        assert msg.startswith(f"{path}: no row for category animal, target owl, metric exact, question_id 49 ("), msg
        assert msg.endswith(f"the design's row before it is line {before})"), msg


def test_a_question_given_twice_names_both_lines(evaluated, tmp_path):
    cfg, path, paths = evaluated
    line = value_line(path, question_id=5, target="owl", metric="exact")
    text = path.read_text()
    path.write_text(text + text.splitlines(keepends=True)[line - 1])
    with pytest.raises(DataFileError) as err:
        analysis.collect_scores(cfg, paths, str(tmp_path / "scores.csv"))
    n = len(text.splitlines()) + 1
    assert str(err.value) == (
        f"{path} line {n}: a second row for category animal, target owl, metric exact, question_id 5 "
        f"(the first is line {line})"
    )


def test_a_collector_reads_what_each_table_says_not_where_it_is(evaluated, tmp_path):
    """The tables are self-describing: renamed, shuffled and moved, they
    make the same scores and targets tables."""
    import random

    cfg, _, paths = evaluated
    want = {
        c: getattr(analysis, c)(cfg, paths, str(tmp_path / f"{c}.csv")) for c in ("collect_scores", "collect_targets")
    }
    moved = []
    for i, p in enumerate(random.Random(1).sample(paths, len(paths))):
        moved.append(str(write(tmp_path / "elsewhere" / f"table{i}.tsv", Path(p).read_text())))
    for collect, table in want.items():
        pd.testing.assert_frame_equal(getattr(analysis, collect)(cfg, moved, str(tmp_path / "again.csv")), table)
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "collect_targets.csv").read_bytes()


def test_a_table_of_another_evaluation_or_given_twice_is_refused(evaluated, tmp_path):
    cfg, path, paths = evaluated
    own = layout.Layout.of(cfg).eval_id
    with pytest.raises(DataFileError, match=rf"^{paths[-1]}: a second table of "):
        analysis.collect_scores(cfg, [*paths, paths[-1]], str(tmp_path / "scores.csv"))
    text = Path(path).read_text()
    Path(path).write_text(text.replace(f"\n{own}\t", "\nabcdef0123\t"))
    with pytest.raises(DataFileError, match=rf"^{path}: an evaluation of abcdef0123, not this config's {own}$"):
        analysis.collect_targets(cfg, paths, str(tmp_path / "targets.csv"))


def test_a_table_holding_two_models_names_the_line(evaluated, tmp_path):
    cfg, path, paths = evaluated
    line = value_line(path, question_id=7, target="owl", metric="sampled")
    edit_line(path, line, lambda text: text.replace("\ttrait\t", "\tcontrol\t", 1))
    with pytest.raises(DataFileError) as err:
        analysis.collect_scores(cfg, paths, str(tmp_path / "scores.csv"))
    assert str(err.value).startswith(f"{path} line {line}: another model's identity (evaluation ")
    assert ", role control, " in str(err.value)


def test_a_missing_member_is_refused_by_the_statistics(evaluated, tmp_path):
    """The collector groups what it is given; the statistics check the
    groups against the design (a control twin's table left out)."""
    cfg, _, paths = evaluated
    twin = next(p for p in paths if "/control/qwen_b/" in p and p.endswith("seed3.tsv"))
    scores_csv = tmp_path / "scores.csv"
    analysis.collect_scores(cfg, [p for p in paths if p != twin], str(scores_csv))
    with pytest.raises(DataFileError, match=rf"^{scores_csv}: no row for .*role control, seed 3, metric exact, "):
        tables.read_scores(cfg, str(scores_csv))


def test_the_statistics_read_every_member_of_the_design_and_no_other(evaluated, tmp_path):
    cfg, _, paths = evaluated
    scores_csv, targets_csv = tmp_path / "scores.csv", tmp_path / "targets.csv"
    scores = analysis.collect_scores(cfg, paths, str(scores_csv))
    targets = analysis.collect_targets(cfg, paths, str(targets_csv))
    out = {
        k: str(tmp_path / f"{k}.out")
        for k in ("summary", "compare", "interaction", "specificity", "placebo", "matrix", "text")
    }
    # a control student missing from scores.csv (its rows removed)
    gone = (scores.role == "control") & (scores.seed == 3) & (scores.student_base == "qwen_b")
    scores[~gone].to_csv(scores_csv, index=False, float_format="%.8g")
    with pytest.raises(DataFileError, match=rf"^{scores_csv}: no row for .*role control, seed 3, metric exact, "):
        analysis.analyse(cfg, str(scores_csv), str(targets_csv), out)
    # a student of another recipe in targets.csv: not in the design
    scores.to_csv(scores_csv, index=False, float_format="%.8g")
    stale = targets[targets.role == "trait"].iloc[:1].assign(model="students/stale", recipe="lora8")
    pd.concat([targets, stale]).to_csv(targets_csv, index=False, float_format="%.8g")
    n = len(targets) + 2
    with pytest.raises(DataFileError) as err:
        analysis.analyse(cfg, str(scores_csv), str(targets_csv), out)
    assert str(err.value).startswith(f"{targets_csv} line {n}: model students/stale, category animal, target ")
    assert str(err.value).endswith("is not in the design of this config (a member of another config?)")
    assert not any(Path(f).exists() for f in out.values())


# ----------------------------------------------------------------------------- issue 18: every load names its file


def test_a_corrupt_model_adapter_or_steering_file_is_named(tiny_base, tmp_path):
    """safetensors alone says "header too large" and names no file, though a
    job loads two model folders."""
    import shutil

    import torch

    from subliminal import models, steering

    model = tmp_path / "model"
    shutil.copytree(tiny_base, model)
    models.load_model(str(model))  # intact: loads
    weights = model / "model.safetensors"
    weights.write_bytes(b"\xff" * 64)
    with pytest.raises(models.ModelFileError) as err:
        models.load_model(str(model))
    assert str(err.value).startswith(f"{weights}: not a readable safetensors file (")
    assert "header too large" in str(err.value)
    # a truncated adapter, loaded on an intact base
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    steering.save(tmp_path / "v.safetensors", torch.ones(32), {"layer": 0, "norm": 1.0, "share": 0.5})
    cut = (tmp_path / "v.safetensors").read_bytes()
    (adapter / "adapter_model.safetensors").write_bytes(cut[: len(cut) // 2])
    with pytest.raises(models.ModelFileError, match=rf"^{adapter}/adapter_model.safetensors: not a readable "):
        models.load_model(str(tiny_base), adapter=adapter)
    # a steering vector: intact, corrupt, without its vector, with a broken record
    vector, record = steering.load(tmp_path / "v.safetensors")
    assert record["layer"] == 0 and vector.shape == (32,)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(cut[: len(cut) // 2])
    with pytest.raises(models.ModelFileError, match=rf"^{bad}: not a readable safetensors file \(.*not fully covered"):
        steering.load(bad)
    from safetensors.torch import save_file

    save_file({"other": torch.ones(2)}, str(bad))
    with pytest.raises(models.ModelFileError, match=rf"^{bad}: no tensor 'vector' \(it holds: other\)"):
        steering.load(bad)
    (tmp_path / "v.json").write_text('{"layer": 0,')
    with pytest.raises(DataFileError, match=rf"^{tmp_path / 'v.json'} line 1 is not JSON"):
        steering.load(tmp_path / "v.safetensors")


def test_a_table_or_report_that_is_not_text_is_named(tmp_path):
    binary = write(tmp_path / "scores.csv", "")
    binary.write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(DataFileError, match=rf"^{binary}: not UTF-8 text \(byte 4"):
        io.read_table(binary)
    binary.rename(tmp_path / "filter.json")
    with pytest.raises(DataFileError, match=rf"^{tmp_path / 'filter.json'}: not UTF-8 text"):
        io.read_json(tmp_path / "filter.json")


def test_a_broken_steering_record_is_named_in_the_provenance(cfg, tmp_path):
    from subliminal.layout import Layout

    cfg = {**cfg, "results": str(tmp_path / "results")}
    teacher = grid.teacher(cfg, "qwen_a", "owl")
    record = write(Path(Layout.of(cfg).teacher("steering.json", "qwen_a", "owl")), '{"layer": -1, "norm"')
    with pytest.raises(DataFileError, match=rf"^{record} line 1 is not JSON"):
        provenance.teacher_record(cfg, teacher)
