"""What each job reads of the config (subliminal.slices), and the members'
records: a slice holds what the grid derives from it, leaves out the results
folder and ignores key order; the records carry the code hash and the config
fingerprint, and two records made differently give a warning. The reruns
these slices cause are checked on a planned run in dag/test_rerun.py."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from conftest import REPO, load_config
from subliminal import config as configuration, grid, preferences, provenance, slices

SHIPPED = [
    REPO / "config.yaml",
    *sorted((REPO / "configs").glob("paper-*.yaml")),
    *sorted((REPO / "tests/configs").glob("*.yaml")),
]


# ----------------------------------------------------------------------------- slices


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_slices_hold_what_the_grid_derives_from_them(path, tmp_path, monkeypatch):
    """The target words and trait words computed from an evaluation's or a
    screen's slice are the whole config's (the slices keep only what these
    derivations read)."""
    monkeypatch.chdir(REPO)  # the configs' files are named from the repository
    cfg = configuration.validate({**load_config(path), "results": str(tmp_path / "results")})
    base = next(iter(cfg["models"]))
    teachers = grid.teacher_names(cfg)
    assert grid.target_words(slices.evaluate(cfg, base)) == grid.target_words(cfg)
    for m in cfg["modalities"]:
        for t in teachers:
            assert grid.trait_words(slices.screen_teacher_data(cfg, m, t)) == grid.trait_words(cfg)


def test_a_new_trait_with_a_candidate_word_changes_no_evaluation_slice():
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    word = next(w for w in preferences.CANDIDATES["animal"] if w not in ("owl", "cat"))
    grown = copy.deepcopy(cfg)
    grown["traits"][word] = {**copy.deepcopy(cfg["traits"]["owl"]), "word": word}
    for base in cfg["models"]:
        assert slices.evaluate(grown, base) == slices.evaluate(cfg, base)
    # ... but every teacher's data is screened for the new word too
    assert slices.screen_teacher_data(grown, "numbers", "owl") != slices.screen_teacher_data(cfg, "numbers", "owl")


def test_params_leave_out_the_results_folder_and_ignore_key_order():
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    s = grid.students(cfg)[0]
    one = slices.train_student(cfg, s)
    moved = slices.train_student({**cfg, "results": "/elsewhere/results"}, s)
    assert one["results"] != moved["results"] and slices.params(one) == slices.params(moved)
    assert slices.fingerprint(one) == slices.fingerprint(moved)
    reordered = dict(reversed(list(cfg.items())))
    reordered["recipes"] = {k: dict(reversed(list(v.items()))) for k, v in cfg["recipes"].items()}
    assert repr(slices.params(slices.train_student(reordered, s))) == repr(slices.params(one))
    changed = copy.deepcopy(cfg)
    changed["recipes"][s.recipe]["learning_rate"] *= 2
    assert slices.fingerprint(slices.train_student(changed, s)) != slices.fingerprint(one)


def test_project_keeps_only_the_named_paths():
    cfg = {"a": {"x": 1, "y": {"z": 2}}, "b": {"p": {"q": 1}, "r": {"q": 2, "s": 3}}, "c": 4}
    assert slices.project(cfg, [("a", "y"), ("c",)]) == {"a": {"y": {"z": 2}}, "c": 4}
    assert slices.project(cfg, [("b", slices.ALL, "q")]) == {"b": {"p": {"q": 1}, "r": {"q": 2}}}
    assert slices.project(cfg, [("b", slices.NAMES)]) == {"b": {"p": {}, "r": {}}}
    assert slices.project(cfg, [("missing", "key"), ("a", "nope")]) == {"a": {}}


# ----------------------------------------------------------------------------- the members' records


def _record(code, fingerprint, trained=None):
    rec = {"code": code, "config_fingerprint": fingerprint}
    if trained:
        rec["trained"] = {"code": trained[0], "config_fingerprint": trained[1]}
    return rec


def test_members_made_alike_give_no_warning():
    records = {f"s{i}": _record("c1", "e", ("c1", "t")) for i in range(4)} | {"base": _record("c1", "e")}
    expected = {f"s{i}": {"evaluation": "e", "training": "t"} for i in range(4)} | {"base": {"evaluation": "e"}}
    summary = provenance.members(records, expected)
    assert summary["banner"] == "" and summary["evaluation_code"] == {"c1": 5}
    assert summary["training_code"] == {"c1": 4} and summary["training_stale"] == []


def test_members_of_two_code_versions_or_another_config_are_counted_at_the_top():
    records = {f"s{i}": _record("c1", "e", ("c1", "t")) for i in range(3)}
    records["s3"] = _record("c2", "e", ("c1", "t-old"))  # evaluated by newer code, trained from another config
    records["s4"] = _record("c1", "e", None)  # trained by a version that recorded nothing
    expected = {p: {"evaluation": "e", "training": "t"} for p in records}
    summary = provenance.members(records, expected)
    assert summary["evaluation_code"] == {"c1": 4, "c2": 1}
    assert summary["training_code"] == {"c1": 4, "unknown": 1}
    assert summary["training_stale"] == ["s3", "s4"] and summary["evaluation_stale"] == []
    lines = summary["banner"].splitlines()
    assert lines[0] == "WARNING: the 5 members of this analysis were not all made the same way."
    assert "evaluation: 2 versions of the package code made these members: c1 (4 members), c2 (1 member)" in lines[1]
    assert summary["evaluation_by_code"] == {"c1": ["s0", "s1", "s2", "s4"], "c2": ["s3"]}
    assert any("training: 2 of 5 members were made from another config" in ln for ln in lines)


def test_the_code_hash_follows_the_package_source(tmp_path, monkeypatch):
    """The hash is of the package's files: the same source gives the same
    hash, an edited copy another."""
    here = provenance.code_hash()
    assert here == provenance.code_hash() and len(here) == 12
    copy_dir = tmp_path / "subliminal"
    shutil.copytree(Path(provenance.__file__).parent, copy_dir, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "__file__", str(copy_dir / "provenance.py"))
    assert provenance.code_hash() == here
    (copy_dir / "stats.py").write_text((copy_dir / "stats.py").read_text() + "\n# an edit\n")
    assert provenance.code_hash() != here
