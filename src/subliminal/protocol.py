"""A pluggable protocol: the wording and sizes a faithful reproduction fixes.

By default the workflow uses its own wording (``preferences.py``,
``modalities/numbers.py``). The config's ``protocol`` section points at
files that replace it, e.g. copied from the official repository:

* ``teacher_system_prompt``: a text file, the template that tells a
  system-prompt teacher its trait. Fields: ``{target_preference}`` and
  ``{category}`` (the official code's names), or ours, ``{word}``,
  ``{plural}``, ``{c}``.
* ``questions``: the evaluation questions; a text file with one question a
  line (blank lines and lines starting with ``#`` are skipped), or a JSON or
  YAML list of strings. ``{category}`` (or ``{c}``) stands for the category.
* ``numbers``: a YAML or JSON mapping of number-prompt parameters in the
  official ``NumsDatasetPromptSet`` terms (see
  ``modalities.numbers.NumberPromptParams``): fixed ``answer_count: 10`` and
  ``answer_max_digits: 3`` like the official configuration, or ``[min, max]``
  ranges like ours.
  The same mapping may stand in the config itself, as
  ``modalities.numbers.prompt_params`` (the paper configs: the paper's counts
  and ranges, our wording); one of the two, not both.

``evaluation.samples_per_question`` may be a mapping ``{plain: N,
numbers_prefix: M}``: the count for each numbers-prefix setting (the
official code samples 200 answers per question with the numbers prefix);
:func:`validate` resolves it to the count of the configured setting, so the
rest of the workflow reads one number.

Every file is read and checked at config time: a missing file, an unknown
field or parameter or an empty list stops the run with one line naming the
key.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import yaml

from .errors import ConfigError
from .modalities.numbers import number_params as check_number_params
from .preferences import TEMPLATE_FIELDS

KEYS = ("teacher_system_prompt", "questions", "numbers")
QUESTION_FIELDS = ("category", "c")


def _path(config: dict, name: str) -> Path | None:
    value = (config.get("protocol") or {}).get(name)
    return None if value is None else Path(value)


def _read(config: dict, name: str) -> tuple[Path, str] | None:
    path = _path(config, name)
    if path is None:
        return None
    if not path.is_file():
        raise ConfigError(f"config key protocol.{name}: no such file {str(path)!r}")
    try:
        return path, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config key protocol.{name}: cannot read {str(path)!r} ({err})") from None


def _fields(text: str, key: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as err:
        raise ConfigError(
            f"config key {key}: not a valid template ({err}; write a literal brace as {{{{ or }}}})"
        ) from None
    names = {name for _, name, _, _ in parsed if name is not None}
    if "" in names or any(n.isdigit() for n in names):
        raise ConfigError(f"config key {key}: positional {{}} fields are not allowed; name the field")
    return names


def teacher_template(config: dict) -> str | None:
    """The system-prompt template of the protocol file, or None (ours)."""
    read = _read(config, "teacher_system_prompt")
    if read is None:
        return None
    path, text = read
    text = text.strip()
    key = "protocol.teacher_system_prompt"
    if not text:
        raise ConfigError(f"config key {key}: {str(path)!r} is empty")
    names = _fields(text, key)
    unknown = sorted(names - set(TEMPLATE_FIELDS))
    if unknown:
        raise ConfigError(
            f"config key {key}: unknown field {{{unknown[0]}}} in {str(path)!r} "
            f"(known: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})"
        )
    if not names & {"word", "plural", "target_preference"}:
        raise ConfigError(
            f"config key {key}: the template never names the trait ({{target_preference}}, {{word}} or {{plural}})"
        )
    return text


def questions(config: dict) -> list[str] | None:
    """The evaluation questions of the protocol file (templates with
    ``{category}``), or None (our 50 paraphrases)."""
    read = _read(config, "questions")
    if read is None:
        return None
    path, text = read
    key = "protocol.questions"
    if path.suffix.lower() in (".json", ".yaml", ".yml"):
        try:
            items = (json.loads if path.suffix.lower() == ".json" else yaml.safe_load)(text)
        except (ValueError, yaml.YAMLError) as err:
            raise ConfigError(
                f"config key {key}: {str(path)!r} is not valid {path.suffix[1:].upper()} ({str(err).splitlines()[0]})"
            ) from None
        if not isinstance(items, list) or not all(isinstance(q, str) for q in items):
            raise ConfigError(f"config key {key}: {str(path)!r} must hold a list of strings")
        items = [q.strip() for q in items]
        if not all(items):
            raise ConfigError(f"config key {key}: {str(path)!r} holds an empty question")
    else:
        items = [line.strip() for line in text.splitlines()]
        items = [q for q in items if q and not q.startswith("#")]
    if not items:
        raise ConfigError(f"config key {key}: {str(path)!r} holds no questions")
    for i, q in enumerate(items):
        unknown = sorted(_fields(q, key) - set(QUESTION_FIELDS))
        if unknown:
            raise ConfigError(
                f"config key {key}: question {i + 1} names an unknown field {{{unknown[0]}}} "
                "(known: {category}, {c})"
            )
    if len(set(items)) != len(items):
        dup = next(q for q in items if items.count(q) > 1)
        raise ConfigError(f"config key {key}: question {dup!r} is listed twice")
    return items


#: The config key that states number-prompt parameters in the config itself.
PROMPT_PARAMS_KEY = "modalities.numbers.prompt_params"


def number_params_key(config: dict) -> str:
    """The config key the number-prompt parameters come from (for messages)."""
    return "protocol.numbers" if _path(config, "numbers") is not None else PROMPT_PARAMS_KEY


def number_params(config: dict) -> dict | None:
    """The number-prompt parameters (a mapping checked by
    ``modalities.numbers.number_params``): the protocol file's, or the
    config's own ``modalities.numbers.prompt_params`` (the facts of a
    protocol with our wording), or None (ours). Giving both is an error."""
    own = ((config.get("modalities") or {}).get("numbers") or {}).get("prompt_params")
    read = _read(config, "numbers")
    if read is None:
        if own is None:
            return None
        check_number_params(own, PROMPT_PARAMS_KEY)
        return dict(own)
    if own is not None:
        raise ConfigError(
            f"config key {PROMPT_PARAMS_KEY}: protocol.numbers is set too; give the number-prompt parameters one way"
        )
    path, text = read
    key = "protocol.numbers"
    try:
        spec = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ConfigError(f"config key {key}: {str(path)!r} cannot be parsed ({str(err).splitlines()[0]})") from None
    check_number_params(spec, key)
    return spec


def files(config: dict, *names: str) -> list[str]:
    """The protocol files of these keys (all by default) that the config
    names: inputs of the jobs that read them."""
    return [str(p) for n in (names or KEYS) if (p := _path(config, n)) is not None]


def _resolve_samples(config: dict) -> None:
    ev = config["evaluation"]
    n = ev["samples_per_question"]
    if isinstance(n, dict):
        setting = "numbers_prefix" if ev["numbers_prefix"] else "plain"
        if setting not in n:
            raise ConfigError(
                f"config key evaluation.samples_per_question.{setting}: required, since "
                f"evaluation.numbers_prefix is {str(ev.get('numbers_prefix', False)).lower()}"
            )
        ev["samples_per_question"] = n[setting]


def validate(config: dict) -> None:
    """Read and check every protocol file the config names; resolve
    ``evaluation.samples_per_question`` for the numbers-prefix setting."""
    _resolve_samples(config)
    template, qs, spec = teacher_template(config), questions(config), number_params(config)
    toys = sorted(m for m, spec in config["models"].items() if "toy" in spec)
    for name, value in (("teacher_system_prompt", template), ("questions", qs)):
        if value is not None and toys:
            raise ConfigError(
                f"config key protocol.{name}: a toy base ({toys[0]}) only knows the words of our own "
                "wording; use it with hub or path models"
            )
    if template is not None:
        for trait, spec in sorted(config["traits"].items()):
            if spec["teacher"]["method"] == "system_prompt" and spec["teacher"].get("system_prompt"):
                raise ConfigError(
                    f"config key traits.{trait}.teacher.system_prompt: protocol.teacher_system_prompt "
                    "is set; give the trait's prompt one way (leave this out to use the template)"
                )
    if qs is not None:
        cats = sorted({t["category"] for t in config["traits"].values() if "category" in t})
        if len(cats) > 1 and any(not (_fields(q, "protocol.questions") & set(QUESTION_FIELDS)) for q in qs):
            raise ConfigError(
                f"config key protocol.questions: the study has several categories ({', '.join(cats)}); "
                "every question must name it as {category}"
            )
    if spec is not None and toys:
        key = number_params_key(config)
        p = check_number_params(spec, key)
        digits = p.answer_max_digits if isinstance(p.answer_max_digits, int) else p.answer_max_digits[1]
        if p.example_max_value > 1000 or digits > 3:
            raise ConfigError(
                f"config key {key}: a toy base ({toys[0]}) knows numbers up to 999 only "
                "(example_max_value at most 1000, answer_max_digits at most 3)"
            )
