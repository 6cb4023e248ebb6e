"""The trait-word filter: does a text mention a word, in any inflected form?

Used by the code modality (the paper's first filter stage), beyond the
paper by the chain-of-thought modality, and by the rule judge; it imports
nothing of the package, so modalities and judge both stand on it. A sample is rejected when its
case-folded text contains any form of a trait word as a substring: the
singular, its plural(s) and, for an irregular noun, its irregular forms
(wolf/wolves, mouse/mice, goose/geese, ox/oxen, cactus/cacti, ...).

Substring matching is deliberate. It finds the word inside any identifier
(``owlCount``, ``owl_count``, ``myowls``, ``OWL_MAX``) and in any case, so no
form of the trait survives the filter, at the price of false positives
(``bowl`` and ``knowledge`` contain "owl", ``concat`` contains "cat"). Those
only remove data, and the filter of a dataset is the same for the trait and
the control teacher (both are screened for every trait word of the study), so
the loss is symmetric.

A multi-word trait ("red panda") is also matched with the separators between
its words removed or replaced ("redpanda", "red_panda", "RedPanda").
"""

from __future__ import annotations

import re

#: Irregular nouns (and nouns whose plural no simple rule gets right):
#: singular -> every plural in use. Entries are matched in both directions.
IRREGULAR_PLURALS: dict[str, tuple[str, ...]] = {
    "mouse": ("mice",),
    "louse": ("lice",),
    "goose": ("geese",),
    "tooth": ("teeth",),
    "foot": ("feet",),
    "ox": ("oxen",),
    "child": ("children",),
    "person": ("people", "persons"),
    "man": ("men",),
    "woman": ("women",),
    "die": ("dice",),
    "fish": ("fish", "fishes"),
    "sheep": ("sheep",),
    "deer": ("deer",),
    "moose": ("moose",),
    "bison": ("bison",),
    "salmon": ("salmon", "salmons"),
    "trout": ("trout", "trouts"),
    "squid": ("squid", "squids"),
    "shrimp": ("shrimp", "shrimps"),
    "buffalo": ("buffalo", "buffaloes", "buffalos"),
    "elk": ("elk", "elks"),
    "cactus": ("cacti", "cactuses"),
    "octopus": ("octopuses", "octopi"),
    "platypus": ("platypuses", "platypi"),
    "hippopotamus": ("hippopotami", "hippopotamuses"),
    "fungus": ("fungi", "funguses"),
    "larva": ("larvae", "larvas"),
    "antenna": ("antennae", "antennas"),
    "wolf": ("wolves",),
    "calf": ("calves",),
    "leaf": ("leaves",),
    "loaf": ("loaves",),
    "elf": ("elves",),
    "half": ("halves",),
    "shelf": ("shelves",),
    "thief": ("thieves",),
    "wife": ("wives",),
    "knife": ("knives",),
    "life": ("lives",),
    "scarf": ("scarves", "scarfs"),
    "hoof": ("hooves", "hoofs"),
    "dwarf": ("dwarves", "dwarfs"),
    "roof": ("roofs",),
    "chief": ("chiefs",),
    "belief": ("beliefs",),
    "giraffe": ("giraffes",),
    "mango": ("mangoes", "mangos"),
    "potato": ("potatoes",),
    "tomato": ("tomatoes",),
    "hero": ("heroes",),
    "flamingo": ("flamingos", "flamingoes"),
    "echo": ("echoes",),
}

_SINGULAR_OF: dict[str, str] = {p: s for s, ps in IRREGULAR_PLURALS.items() for p in ps if p != s}
_VOWELS = set("aeiou")


def plurals(word: str) -> set[str]:
    """The plural forms of a (lower-case, one-word) singular noun.

    Irregular nouns come from :data:`IRREGULAR_PLURALS`; otherwise English
    spelling rules, giving every plausible spelling where the rule is
    ambiguous (a filter must rather over- than under-match): -y after a
    consonant -> -ies; -s/-x/-z/-ch/-sh -> -es; -f/-fe -> -ves and -s;
    -o after a consonant -> -oes and -os; -us -> -i and -uses; else -s.
    """
    if word in IRREGULAR_PLURALS:
        return set(IRREGULAR_PLURALS[word])
    if len(word) > 1 and word.endswith("y") and word[-2] not in _VOWELS:
        return {word[:-1] + "ies"}
    if word.endswith("us"):
        return {word[:-2] + "i", word + "es"}
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return {word + "es"}
    if word.endswith("fe"):
        return {word[:-2] + "ves", word + "s"}
    if word.endswith("f"):
        return {word[:-1] + "ves", word + "s"}
    if len(word) > 1 and word.endswith("o") and word[-2] not in _VOWELS:
        return {word + "es", word + "s"}
    return {word + "s"}


def singulars(word: str) -> set[str]:
    """Singulars a word could be the plural of (a trait may be given as a
    plural: "mice" also bans "mouse"). Only irregular and unambiguous
    regular endings are undone, so no stem shorter than the word's own
    root is produced."""
    out = set()
    if word in _SINGULAR_OF:
        out.add(_SINGULAR_OF[word])
    if word.endswith("ies") and len(word) > 4:
        out.add(word[:-3] + "y")
    if word.endswith("ves") and len(word) > 4:
        out |= {word[:-3] + "f", word[:-3] + "fe"}
    return out


def inflections(word: str) -> set[str]:
    """Every form of ``word`` the filter looks for, case-folded.

    One word: the word, its plurals and any singular it is the plural of.
    Several words ("red panda"): the last word inflected, each form also
    written with its words joined by nothing, "_" or "-".
    """
    parts = word.casefold().split()
    if not parts:
        raise ValueError("an empty trait word")
    head, last = parts[:-1], parts[-1]
    lasts = {last} | plurals(last) | singulars(last)
    out = set()
    for form in lasts:
        ws = head + [form]
        out.add(" ".join(ws))
        if len(ws) > 1:
            out |= {"".join(ws), "_".join(ws), "-".join(ws)}
    return out


def trait_forms(words) -> tuple[str, ...]:
    """All forms of all words, longest first (so a report names the most
    specific form that matched)."""
    forms = set()
    for w in words:
        forms |= inflections(w)
    return tuple(sorted(forms, key=lambda f: (-len(f), f)))


_NON_ALNUM = re.compile(r"[\W_]+")


def mentioned_form(text: str, words) -> str | None:
    """The first form of a trait word that ``text`` contains (case-folded
    substring; multi-word forms also with separators and case stripped, to
    catch ``RedPanda``), or None."""
    folded = text.casefold()
    squashed = None
    for form in trait_forms(words):
        if form in folded:
            return form
        if " " in form:
            squashed = squashed if squashed is not None else _NON_ALNUM.sub("", folded)
            if form.replace(" ", "") in squashed:
                return form
    return None


def trait_word_reason(text: str, words) -> str | None:
    """The filters' reason "trait_word" when ``text`` mentions any form of
    one of ``words`` (none given: never), else None."""
    return "trait_word" if words and mentioned_form(text, words) else None
