"""Every seeded subset of the package (the students' training subset, the
equalised teacher sets, the prompt sources' questions and tasks) is drawn by
one function; these pin the selections it made before it was one function,
so that a seeded run still picks exactly the same items in the same order."""

from __future__ import annotations

from subliminal import teacher, train
from subliminal.modalities.code import choose

ITEMS = list(range(12))
REPORT = {"total": 12, "kept": 12, "rejected": 0, "kept_fraction": 1.0, "reasons": {}, "stages": []}


def test_student_subset_is_pinned():
    assert train.subsample(ITEMS, 5, 3) == [0, 1, 6, 7, 10]
    assert train.subsample(list("abcdefgh"), 3, 0) == ["b", "e", "f"]
    assert train.subsample(ITEMS, None, 7) == ITEMS
    assert train.subsample(ITEMS, 20, 1) == ITEMS


def test_prompt_source_choice_is_pinned():
    assert choose(ITEMS, 5, 3, "tasks") == [1, 7, 10, 0, 6]
    assert choose(list("abcdefgh"), 3, 0, "tasks") == ["e", "b", "f"]
    assert choose(ITEMS, 20, 1, "tasks") == [7, 11, 0, 8, 5, 6, 3, 10, 4, 1, 9, 2]


def test_equalised_teacher_set_is_pinned():
    records = [{"i": i} for i in ITEMS]
    kept, _ = teacher.equalise(records, REPORT, 5, {"a": 5}, "numbers/qwen/owl")
    assert [r["i"] for r in kept] == [3, 4, 5, 6, 8]
    kept, _ = teacher.equalise(records, REPORT, 7, {"a": 7}, "k")
    assert [r["i"] for r in kept] == [0, 1, 3, 4, 7, 8, 9]
