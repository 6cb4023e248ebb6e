"""The modality and evaluation settings as the jobs read them
(subliminal.settings): the records hold the schema's keys, each job's record
builds from that job's slice and holds the config's values, and a key a job
does not read is not in its slice (a changed train_samples keeps every
teacher's samples)."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from conftest import REPO, load_config
from subliminal import config as configuration, grid, slices
from subliminal.settings import (
    GRID_ONLY,
    MODALITY_RECORDS as RECORDS,
    Evaluation,
    Filtering,
    MisalignmentEvaluation,
    Sampling,
    Screening,
    Training,
)

SHIPPED = [
    REPO / "config.yaml",
    *sorted((REPO / "configs").glob("paper-*.yaml")),
    *sorted((REPO / "tests/configs").glob("*.yaml")),
]


def _modality_schemas() -> dict[str, dict]:
    schema = configuration.load_schema()
    return {
        name: configuration._resolved(node, schema)
        for name, node in schema["properties"]["modalities"]["properties"].items()
    }


def _property(node: dict, key: str) -> dict:
    return configuration._resolved(node["properties"][key], configuration.load_schema())


def test_the_records_hold_the_schema_s_modality_keys():
    """Every key of every modality is some job's (or the grid's), every field
    is some modality's key, a field without a default is always in a
    validated section (required or filled in by the schema), and a field's
    default is the schema's where the schema gives one."""
    modalities = _modality_schemas()
    fields = {f.name: f for record in RECORDS for f in dataclasses.fields(record)}
    for name, node in modalities.items():
        keys = set(node["properties"])
        assert keys - set(GRID_ONLY) <= set(fields), name
        for record in RECORDS:
            for f in dataclasses.fields(record):
                prop = _property(node, f.name) if f.name in keys else {}
                if f.default is dataclasses.MISSING:
                    assert f.name in node["required"] or "default" in prop, (name, record.__name__, f.name)
                elif "default" in prop:
                    assert f.default == prop["default"], (name, f.name)
    assert set(fields) <= set().union(*(n["properties"] for n in modalities.values()))
    assert not set(GRID_ONLY) & set(fields)


@pytest.mark.parametrize("record, path", [(Evaluation, ()), (MisalignmentEvaluation, ("misalignment",))])
def test_the_evaluation_records_hold_the_schema_s_keys(record, path):
    """Evaluation and its misalignment part name the schema's keys; a field
    without a default is required or filled in by the schema, and a field's
    default is the schema's (None where the schema fills none in)."""
    node = configuration._resolved(configuration.load_schema()["properties"]["evaluation"], configuration.load_schema())
    for key in path:
        node = _property(node, key)
    fields = {f.name: f for f in dataclasses.fields(record)}
    assert set(fields) == set(node["properties"])
    for name, f in fields.items():
        prop = _property(node, name)
        if f.default is dataclasses.MISSING:
            assert name in node.get("required", ()) or "default" in prop, name
        else:
            assert f.default == prop.get("default"), name


def test_sampling_reads_nothing_that_acts_after_it():
    """Sampling shares only the seed with the later jobs: the filter, the
    judge, equalising and training sizes are not in a teacher's slice."""
    later = set().union(*(r.keys() for r in (Screening, Filtering, Training)))
    assert set(Sampling.keys()) & later == {"seed"}
    assert {"train_samples", "equalise", "replicates", "filter", "judge", "word_filter"} <= later


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_each_job_s_record_builds_from_its_slice(path, tmp_path, monkeypatch):
    """What a stage takes (the record of its job's slice) holds the whole
    config's values, and the slice holds that record's keys of the modality
    and no other."""
    monkeypatch.chdir(REPO)  # the configs' files are named from the repository
    cfg = configuration.validate({**load_config(path), "results": str(tmp_path / "results")})
    for ds in grid.teacher_datasets(cfg):
        m = ds.modality
        jobs = {
            Sampling: slices.sample_teacher(cfg, m, ds.teacher_base, ds.teacher),
            Screening: slices.screen_teacher_data(cfg, m, ds.teacher),
            Filtering: slices.filter_teacher_data(cfg, m),
        }
        for record, cut in jobs.items():
            assert record.of(cut, m) == record.of(cfg, m)
            assert set(cut["modalities"]) == {m}
            assert set(cut["modalities"][m]) == set(record.keys()) & set(cfg["modalities"][m])
    for s in grid.students(cfg):
        cut = slices.train_student(cfg, s)
        assert Training.of(cut, s.modality) == Training.of(cfg, s.modality)
        assert set(cut["modalities"][s.modality]) == set(Training.keys())
    whole = Evaluation.of(cfg)
    for base in cfg["models"]:
        for kind in (grid.PREFERENCE, grid.MISALIGNMENT):
            cut = slices.evaluate(cfg, base, kind=kind)
            assert Evaluation.of(cut) == dataclasses.replace(whole, name=None)  # the name is the folder's


def test_a_record_holds_the_config_s_values_and_names_what_it_misses():
    for path in ("config.yaml", "tests/configs/modalities.yaml"):  # numbers; code and cot
        cfg = configuration.validate(load_config(REPO / path))
        for m, section in cfg["modalities"].items():
            for record in RECORDS:
                made = record.of(cfg, m)
                held = [k for k in record.keys() if k in section]
                assert {k: getattr(made, k) for k in held} == {k: section[k] for k in held}
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    numbers = Screening.of(cfg, "numbers")
    assert numbers.word_filter is True and numbers.judge is None  # keys numbers does not have
    assert Sampling.of(cfg, "numbers").samples_per_prompt == 1
    ev = Evaluation.of(cfg)
    assert (ev.samples_per_question, ev.seed, ev.misalignment.samples_per_question) == (
        cfg["evaluation"]["samples_per_question"],
        cfg["evaluation"]["seed"],
        cfg["evaluation"]["misalignment"]["samples_per_question"],
    )
    cut = slices.filter_teacher_data(cfg, "numbers")
    with pytest.raises(
        KeyError, match=r"^.Training needs modalities\.numbers\.train_samples, modalities\.numbers\.replicates:"
    ):
        Training.of(cut, "numbers")
    without = copy.deepcopy(cfg)
    del without["evaluation"]["seed"], without["evaluation"]["misalignment"]
    with pytest.raises(
        KeyError, match=r"^.MisalignmentEvaluation needs evaluation\.misalignment\.samples_per_question, "
    ):
        Evaluation.of(without)
    without["evaluation"]["misalignment"] = cfg["evaluation"]["misalignment"]
    with pytest.raises(KeyError, match=r"^.Evaluation needs evaluation\.seed: "):
        Evaluation.of(without)


def test_train_samples_changes_the_students_slices_and_no_teacher_s():
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    m = next(iter(cfg["modalities"]))
    grown = copy.deepcopy(cfg)
    grown["modalities"][m]["train_samples"] -= 1
    ds = next(d for d in grid.teacher_datasets(cfg) if d.modality == m)
    assert slices.sample_teacher(cfg, m, ds.teacher_base, ds.teacher) == slices.sample_teacher(
        grown, m, ds.teacher_base, ds.teacher
    )
    assert slices.filter_teacher_data(cfg, m) == slices.filter_teacher_data(grown, m)
    assert slices.screen_teacher_data(cfg, m, ds.teacher) != slices.screen_teacher_data(grown, m, ds.teacher)
    s = next(s for s in grid.students(cfg) if s.modality == m)
    assert slices.train_student(cfg, s) != slices.train_student(grown, s)


def test_a_config_whose_records_cannot_be_built_fails_validation(monkeypatch):
    """The records are built when the config is validated: a record that
    asks for a key the config does not hold stops the run before any job."""
    from subliminal import settings

    @dataclasses.dataclass(frozen=True)
    class Warmup(settings._ModalityRecord):
        warmup: int

    monkeypatch.setattr(settings, "MODALITY_RECORDS", (*settings.MODALITY_RECORDS, Warmup))
    with pytest.raises(KeyError, match=r"Warmup needs modalities\.numbers\.warmup: "):
        configuration.validate(load_config(REPO / "config.yaml"))
