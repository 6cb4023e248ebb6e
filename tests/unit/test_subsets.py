"""Every seeded subset of the package (the students' training subset, the
equalised teacher sets, the prompt sources' questions and tasks) is drawn by
one function; these pin the selections it made before it was one function,
so that a seeded run still picks exactly the same items in the same order."""

from __future__ import annotations

from subliminal import teacher
from subliminal.subsets import seeded_subset

ITEMS = list(range(12))
REPORT = {"total": 12, "kept": 12, "rejected": 0, "kept_fraction": 1.0, "reasons": {}, "stages": []}


def test_student_subset_is_pinned():
    """stages.train_student: shuffled positions, the first n, in their order."""
    assert seeded_subset(ITEMS, 5, 3) == [0, 1, 6, 7, 10]
    assert seeded_subset(list("abcdefgh"), 3, 0) == ["b", "e", "f"]
    assert seeded_subset(ITEMS, None, 7) == ITEMS
    assert seeded_subset(ITEMS, 20, 1) == ITEMS


def test_prompt_source_choice_is_pinned():
    """The code and cot prompt sources: the first n shuffled, in the order drawn."""
    assert seeded_subset(ITEMS, 5, 3, keep_order=False, what="tasks") == [1, 7, 10, 0, 6]
    assert seeded_subset(list("abcdefgh"), 3, 0, keep_order=False, what="tasks") == ["e", "b", "f"]
    assert seeded_subset(ITEMS, 20, 1, keep_order=False, what="tasks") == [7, 11, 0, 8, 5, 6, 3, 10, 4, 1, 9, 2]


def test_equalised_teacher_set_is_pinned():
    """teacher.equalise: Random.sample of n positions, in their order."""
    records = [{"i": i} for i in ITEMS]
    kept, _ = teacher.equalise(records, REPORT, 5, {"a": 5}, "numbers/qwen/owl")
    assert [r["i"] for r in kept] == [3, 4, 5, 6, 8]
    kept, _ = teacher.equalise(records, REPORT, 7, {"a": 7}, "k")
    assert [r["i"] for r in kept] == [0, 1, 3, 4, 7, 8, 9]
    assert seeded_subset(ITEMS, 7, "k", draw="sample") == [0, 1, 3, 4, 7, 8, 9]


def test_a_request_beyond_the_source_is_logged(caplog):
    with caplog.at_level("WARNING"):
        assert sorted(seeded_subset(ITEMS, 20, 1, keep_order=False, what="tasks")) == ITEMS
    assert "20 tasks asked for, the source has 12: using all" in caplog.text
