# The grid: which jobs exist. Everything else only says how to make one.
import sys

# the package was put on the path by config_files.smk (this workflow's src/)
from subliminal import config as configuration, grid
from subliminal import protocol as proto

try:
    # lists and mappings given with --config arrive as text: type them first
    configuration.from_command_line(config, workflow.config_settings.config)
    configuration.validate(config, configuration.load_schema(workflow.source_path("../schemas/config.schema.yaml")))
except configuration.ConfigError as err:
    sys.exit(f"config error: {err}")

R = config["results"]
THREADS = config["resources"].get("threads", 1)
# host memory of a job that loads a model (sampling, judging, evaluation) and
# of each training process; a retry asks for attempt x this
MODEL_MEM_MB = config["resources"].get("model_mem_mb", 8000)
TRAIN_MEM_MB = config["resources"].get("train_mem_mb", 16000)
STUDENTS = grid.students(config)
TEACHERS = grid.teacher_names(config)
CONTROL = grid.CONTROL
METRICS = ["exact", "exact_share", "sampled"]


wildcard_constraints:
    base="|".join(sorted(config["models"])),
    teacher_base="|".join(sorted(config["models"])),
    student_base="|".join(sorted(config["models"])),
    trait="|".join(sorted(config["traits"]) + [t + grid.CONTROL_SUFFIX for t in grid.misalignment_traits(config)]),
    teacher="|".join(TEACHERS),
    modality="|".join(sorted(config["modalities"])),
    recipe="|".join(sorted(config["recipes"])),
    seed=r"\d+",
    replicate=r"\d+",
    metric="|".join(sorted(METRICS, key=len, reverse=True)),


def is_toy(base):
    return "toy" in config["models"][base]


def is_hub(base):
    return "hub" in config["models"][base]


def bases_of_kind(kind):
    """A wildcard pattern for the bases of one kind (toy, hub), matching
    nothing when there are none: it tells build_toy_base and fetch_base
    apart, which make the same folder."""
    names = sorted(b for b, spec in config["models"].items() if kind in spec)
    return "|".join(names) if names else "(?!)"


def base_model(base):
    """Input files of a base model: the toy's build or the hub snapshot's
    local copy (no job loads from the hub); nothing for a local path."""
    return [grid.model_source(config, base)] if (is_toy(base) or is_hub(base)) else []


def teacher_model_dir(wc):
    """Where the teacher of a dataset is loaded from: a fine-tuned trait
    teacher (or a misalignment trait's fine-tuned control), or the base
    itself (control, and system-prompt traits)."""
    if grid.teacher_method(config, wc.teacher) == "finetune":
        return f"{R}/teachers/{wc.base}/{wc.teacher}/model"
    return grid.model_source(config, wc.base)


def teacher_model_input(wc):
    src = teacher_model_dir(wc)
    return [src] if isinstance(src, str) and src.startswith(f"{R}/") else []


def teacher_steering(wc):
    """A steering teacher's vector (none for other teachers)."""
    if grid.teacher_method(config, wc.teacher) == "steering":
        return [f"{R}/teachers/{wc.base}/{wc.teacher}/steering.safetensors"]
    return []


def protocol_input(wc, *names):
    """The protocol files (config key protocol) a job reads: the number-prompt
    parameters for numbers data, the teacher template for a system-prompt
    trait teacher whose prompt comes from it, the questions for evaluations."""
    names = [n for n in names if n != "numbers" or getattr(wc, "modality", "numbers") == "numbers"]
    trait = grid.teacher_trait(config, wc.teacher)[0] if hasattr(wc, "teacher") else None
    if trait is None or config["traits"][trait]["teacher"]["method"] != "system_prompt":
        names = [n for n in names if n != "teacher_system_prompt"]
    return proto.files(config, *names) if names else []


def student_of(wc):
    return grid.Student(wc.modality, wc.teacher_base, wc.teacher, wc.student_base, wc.recipe, int(wc.seed))


def student_data(wc):
    """The training set a student reads: its teacher's data of the replicate
    its seed picks (seed mod the modality's replicates)."""
    r = grid.replicate_of(config, student_of(wc))
    return f"{R}/data/{wc.modality}/{wc.teacher_base}/{wc.teacher}/rep{r}/filtered.jsonl"


def screen_reports(wc):
    """What filter_teacher_data waits for: with equalise on, the screen
    reports of every teacher of this (modality, base, replicate) (it cuts
    each to the smallest); with it off only its own, so no student waits
    for another teacher's sampling."""
    from subliminal.modalities import get_modality

    mcfg = config["modalities"][wc.modality]
    teachers = TEACHERS if mcfg.get("equalise", get_modality(wc.modality).equalise_default) else [wc.teacher]
    return {t: f"{R}/data/{wc.modality}/{wc.base}/{t}/rep{wc.replicate}/screen.json" for t in teachers}


def recipe_gpus(wc):
    """GPUs a training job asks for: its recipe's gpus (default 1)."""
    return config["recipes"][wc.recipe].get("gpus", 1)


def is_misalignment_teacher(teacher):
    """A misalignment trait's teacher or its control teacher <trait>_control
    (the shared control belongs to the preference traits)."""
    return grid.trait_kind(config, teacher) == grid.MISALIGNMENT


def misalignment_teachers():
    """A wildcard pattern for the misalignment teachers and their controls,
    matching nothing when there are none."""
    names = [t for t in TEACHERS if is_misalignment_teacher(t)]
    return "|".join(names) if names else "(?!)"


def eval_files():
    """Preference evaluations (the 50 questions): the preference traits'
    students, the shared control's and their untrained student bases (none
    for a misalignment trait or its control: they have no loved word)."""
    students = [s for s in STUDENTS if not is_misalignment_teacher(s.teacher)]
    bases = sorted({s.student_base for s in students})
    return [f"{R}/eval/bases/{b}.tsv" for b in bases] + [f"{R}/eval/students/{s.path}.tsv" for s in students]


def misalignment_teacher_eval_files():
    """Misalignment evaluations of every misalignment trait's fine-tuned
    teacher and of its control teacher, per teacher base."""
    return sorted(
        {
            f"{R}/eval/misalignment/teachers/{b}/{t}.tsv"
            for _, b, t in grid.datasets(config)
            if is_misalignment_teacher(t)
        }
    )


def misalignment_eval_files():
    """Misalignment evaluations: every misalignment trait's students, their
    control twins, their untrained student bases, and the trait's teacher and
    control teacher (none without such a trait)."""
    students = [s for s in STUDENTS if is_misalignment_teacher(s.teacher)]
    bases = sorted({s.student_base for s in students})
    return (
        [f"{R}/eval/misalignment/bases/{b}.tsv" for b in bases]
        + [f"{R}/eval/misalignment/students/{s.path}.tsv" for s in students]
        + misalignment_teacher_eval_files()
    )


def misalignment_judge_input(wc):
    """A model judge's files for the misalignment evaluation (none for the rule judge)."""
    spec = config["evaluation"].get("misalignment", {}).get("judge") or {}
    return base_model(spec["model"]) if spec.get("kind") == "model" else []


def misalignment_targets():
    if not grid.misalignment_traits(config):
        return []
    return [f"{R}/analysis/misalignment_summary.csv", f"{R}/figures/misalignment.png", f"{R}/figures/misalignment.pdf"]


def teacher_eval_files():
    """Preference evaluations of the preference teachers (the traits and the
    shared control); misalignment teachers: misalignment_teacher_eval_files."""
    return sorted(
        {f"{R}/eval/teachers/{b}/{t}.tsv" for _, b, t in grid.datasets(config) if not is_misalignment_teacher(t)}
    )


def preference_targets():
    """The preference statistics and figures (none without a preference
    trait: there would be no rows to test)."""
    if not grid.preference_traits(config):
        return []
    return [
        f"{R}/analysis/scores.csv",
        f"{R}/analysis/summary.csv",
        f"{R}/analysis/compare.csv",
        f"{R}/analysis/interaction.csv",
        f"{R}/analysis/specificity.csv",
        f"{R}/analysis/summary.txt",
    ] + expand(
        f"{R}/figures/{{kind}}_{{metric}}.{{ext}}",
        kind=["preferences", "heatmap", "forest", "specificity", "traits"],
        metric=METRICS,
        ext=["png", "pdf"],
    )


def final_targets():
    """The preference analysis (when a preference trait exists), every
    teacher's trait strength beside its filter report (teachers.csv), the
    auxiliary-logit branch (when configured), the misalignment outputs
    (when a misalignment trait exists) and the tables' pages of the report."""
    return (
        preference_targets()
        + [f"{R}/analysis/teachers.csv"]
        + (
            [f"{R}/auxlogit/summary.csv", f"{R}/figures/auxlogit.png", f"{R}/figures/auxlogit.pdf"]
            if "auxlogit" in config
            else []
        )
        + misalignment_targets()
        + [f"{R}/report/tables/{t}.html" for t in report_tables()]
    )


# --- the HTML report (snakemake --report; workflow/report/ holds the captions).
# The report lists its categories, and the entries of one, in alphabetical
# order: the numbers put them in reading order. The figures are per metric
# (category: the metric, the lead metric first; label: the kind of figure);
# inside a figure, one panel per modality (and pair, trait, recipe).

#: table name -> (its file under the results folder, its report category, its label)
REPORT_TABLES = {
    "summary": ("analysis/summary.txt", "1 · Results tables", "1 · summary.txt: read this first"),
    "specificity": ("analysis/specificity.csv", "1 · Results tables", "2 · specificity.csv: the lead result"),
    "compare": ("analysis/compare.csv", "1 · Results tables", "3 · compare.csv: every effect"),
    "interaction": ("analysis/interaction.csv", "1 · Results tables", "4 · interaction.csv: matched vs mismatched"),
    "teachers": ("analysis/teachers.csv", "1 · Results tables", "5 · teachers.csv: the teachers and their data"),
    "misalignment": ("analysis/misalignment_summary.csv", "5 · Misalignment", "2 · misalignment_summary.csv"),
    "auxlogit": ("auxlogit/summary.csv", "6 · Auxiliary logits", "2 · auxlogit/summary.csv"),
}
REPORT_METRICS = {
    "exact_share": "2 · Figures: exact_share",
    "exact": "3 · Figures: exact",
    "sampled": "4 · Figures: sampled",
}
REPORT_FIGURES = {
    "specificity": "1 · trait x target shifts (the lead result)",
    "traits": "2 · each trait's animal",
    "preferences": "3 · preference bars",
    "heatmap": "4 · cross-model heatmap",
    "forest": "5 · forest plot",
}


def report_tables():
    """The tables this config's run writes, each shown as a page in the report."""
    tables = ["teachers"]
    if grid.preference_traits(config):
        tables += ["summary", "specificity", "compare", "interaction"]
    if grid.misalignment_traits(config):
        tables.append("misalignment")
    if "auxlogit" in config:
        tables.append("auxlogit")
    return tables


def report_figure(kind):
    """report() arguments of a per-metric figure: its caption, the metric's
    category and a label naming the kind (the table of the category)."""
    return dict(
        caption=f"../report/{kind}.rst",
        category=lambda wc: REPORT_METRICS[wc.metric],
        labels=lambda wc: {"figure": REPORT_FIGURES[kind], "metric": wc.metric},
    )


# --- teacher-data screening: which modalities a model judges


def judge_spec(modality):
    return config["modalities"][modality].get("judge") or {}


def modalities_judged_by_model(judged):
    """A wildcard pattern for the modalities whose judge is (or is not) a
    model, matching nothing when there are none: it tells the two screening
    rules apart, which make the same files."""
    names = sorted(m for m in config["modalities"] if (judge_spec(m).get("kind") == "model") == judged)
    return "|".join(names) if names else "(?!)"


def judge_model_input(wc):
    """A model judge's files (its toy build or hub copy)."""
    return base_model(judge_spec(wc.modality)["model"])
