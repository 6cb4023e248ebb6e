# The grid and the layout: which jobs exist (subliminal.grid) and where their
# files live (subliminal.layout). Everything else only says how to make one.
import os
import sys

# the package was put on the path by config_files.smk (this workflow's src/)
from subliminal import config as configuration, grid, slices
from subliminal import protocol as proto
from subliminal.kinds import KINDS
from subliminal.layout import STUDY_OUTPUTS, Layout
from subliminal.settings import Evaluation, Filtering, Screening

try:
    # lists and mappings given with --config arrive as text: type them first
    configuration.from_command_line(config, workflow.config_settings.config)
    # checked against the package's schema, and its defaults filled in once
    configuration.validate(config)
    configuration.check_study_folder(config)
except configuration.ConfigError as err:
    sys.exit(f"config error: {err}")

L = Layout.of(config)
RESOURCES = config["resources"]
STUDENTS = grid.students(config)
TEACHERS = grid.teacher_names(config)
METRICS = ["exact", "exact_share", "sampled"]


def reads(slice_of):
    """A rule's params: the slice of the config its job reads (see
    subliminal.slices), from the job's wildcards. A change in it reruns the
    job and what depends on it; the stage receives this slice."""
    return lambda wc: slices.params(slice_of(wc))


def one_of(names):
    """A wildcard pattern matching exactly these names, and nothing when
    there are none (it tells apart rules that make the same files)."""
    names = sorted(names)
    return "|".join(names) if names else "(?!)"


wildcard_constraints:
    base=one_of(config["models"]),
    teacher_base=one_of(config["models"]),
    student_base=one_of(config["models"]),
    teacher=one_of(TEACHERS),
    modality=one_of(config["modalities"]),
    recipe=one_of(config["recipes"]),
    seed=r"\d+",
    replicate=r"\d+",
    metric="|".join(sorted(METRICS, key=len, reverse=True)),
    trait_kind=one_of(KINDS),


def heavy(runtime, mem_mb=RESOURCES["model_mem_mb"], gpu=1):
    """The resources of a job that loads a model (the SLURM profile maps
    them to partitions): host memory and time grow with each retry."""
    return dict(
        mem_mb=lambda wc, attempt: mem_mb(wc) * attempt if callable(mem_mb) else mem_mb * attempt,
        runtime=lambda wc, attempt: runtime * attempt,
        gpu=gpu,
    )


def bases_of_kind(kind):
    """The bases of one kind (toy, hub): tells build_toy_base and fetch_base apart."""
    return one_of(b for b, spec in config["models"].items() if kind in spec)


def base_model(base):
    """Input files of a base model: the toy's build or the hub snapshot's
    local copy (no job loads from the hub); nothing for a local path."""
    return [] if "path" in config["models"][base] else [L.base_model(base)]


def teacher_of(wc):
    """The teacher record of a job's {teacher_base} and {teacher} (grid.Teacher)."""
    return grid.teacher(config, wc.teacher_base, wc.teacher)


def teacher_input(wc):
    """What a job that loads a teacher waits for: a fine-tuned teacher's
    model, else its base (and a steering teacher's vector)."""
    t = teacher_of(wc)
    return t.made if t.method == "finetune" else base_model(wc.teacher_base) + t.made


def protocol_input(wc, *names):
    """The protocol files (config key protocol) a job reads: the number-prompt
    parameters for numbers data, the teacher template for a system-prompt
    teacher whose prompt comes from it, the questions for evaluations."""
    names = [n for n in names if n != "numbers" or getattr(wc, "modality", "numbers") == "numbers"]
    if not hasattr(wc, "teacher") or grid.teacher_method(config, wc.teacher) != "system_prompt":
        names = [n for n in names if n != "teacher_system_prompt"]
    return proto.files(config, *names) if names else []


def student_of(wc):
    return grid.Student(wc.modality, wc.teacher_base, wc.teacher, wc.student_base, wc.recipe, int(wc.seed))


def student_data(wc):
    """The training set a student reads: its teacher's data of the replicate
    its seed picks (seed mod the modality's replicates)."""
    return L.data("filtered.jsonl", **grid.student_dataset(config, student_of(wc)).fields)


def screen_reports(wc):
    """What filter_teacher_data waits for: with equalise on, the screen
    reports of every teacher of this (modality, base, replicate) (it cuts
    each to the smallest); with it off only its own, so no student waits
    for another teacher's sampling."""
    teachers = TEACHERS if Filtering.of(config, wc.modality).equalise else [wc.teacher]
    return {
        t: L.data("screen.json", modality=wc.modality, teacher_base=wc.teacher_base, teacher=t, replicate=wc.replicate)
        for t in teachers
    }


def recipe_gpus(wc):
    """GPUs a training job asks for: its recipe's gpus."""
    return config["recipes"][wc.recipe]["gpus"]


def misalignment_teachers():
    """A misalignment trait's teacher or its control teacher <trait>_control
    (the shared control belongs to the preference traits)."""
    return one_of(t for t in TEACHERS if grid.trait_kind(config, t) == grid.MISALIGNMENT)


#: Every evaluated model (subliminal.grid.Evaluated), per trait kind.
EVALUATED = {kind: grid.evaluated(config, kind) for kind in KINDS}
STUDENT_ROLES = (grid.BASE, grid.TRAIT, grid.CONTROL)
TEACHER_ROLES = (grid.TEACHER, grid.CONTROL_TEACHER)


def eval_files(kind=grid.PREFERENCE, roles=STUDENT_ROLES):
    """The evaluation tables of one kind's models in ``roles``: by default
    its students and their untrained student bases."""
    return [L.eval_of(m, kind) for m in EVALUATED[kind] if m.role in roles]


def evaluated_identity(model):
    """An evaluation's params: the identity columns its table opens with."""
    return lambda wc: model(wc).identity(L.eval_id)


def member_records():
    """Every evaluation's record (its .provenance.json) with the config
    fingerprints the current config gives its steps: the evaluation's
    slice, and a student's training slice. collect_provenance compares them
    with what each member recorded."""
    out = {}
    for kind, models in EVALUATED.items():
        for m in models:
            teacher = m.teacher if m.role in TEACHER_ROLES else None
            base = m.teacher_base if teacher else m.student_base  # the base it is loaded on
            want = {"evaluation": slices.fingerprint(slices.evaluate(config, base, teacher, kind=kind))}
            if m.student:
                want["training"] = slices.fingerprint(slices.train_student(config, m.student))
            out[L.eval_of(m, kind, ".provenance.json")] = want
    return out


def misalignment_judge_input(wc):
    """A model judge's files for the misalignment evaluation (none for the rule judge)."""
    spec = Evaluation.of(config).misalignment.judge or {}
    return base_model(spec["model"]) if spec.get("kind") == "model" else []


def evaluation_input(wc):
    """What an evaluation of a {trait_kind} reads beside its model: the
    protocol files of its questions (and of a teacher's system prompt), a
    model judge's files (subliminal.kinds)."""
    kind = KINDS[wc.trait_kind]
    return protocol_input(wc, *kind.protocol) + (misalignment_judge_input(wc) if kind.judged else [])


def misalignment_targets():
    if not grid.misalignment_traits(config):
        return []
    return [
        L.analysis("misalignment_summary.csv"),
        L.figure("misalignment", "", "png"),
        L.figure("misalignment", "", "pdf"),
    ]


#: The preference statistics' tables (rule statistics).
STATISTICS = {
    "summary": "summary.csv",
    "compare": "compare.csv",
    "interaction": "interaction.csv",
    "specificity": "specificity.csv",
    "placebo": "placebo.csv",
    "matrix": "specificity_matrix.csv",
    "text": "summary.txt",
}


def preference_targets():
    """The preference statistics and figures (none without a preference
    trait: there would be no rows to test)."""
    if not grid.preference_traits(config):
        return []
    return (
        [L.analysis("scores.csv")]
        + [L.analysis(STATISTICS[k]) for k in STATISTICS if k != "matrix"]
        + [
            L.figure(kind, metric, ext)
            for kind in ["preferences", "heatmap", "forest", "specificity", "traits", "placebo"]
            for metric in METRICS
            for ext in ["png", "pdf"]
        ]
    )


def final_targets():
    """The preference analysis (when a preference trait exists), every
    teacher's trait strength beside its filter report (teachers.csv), the
    auxiliary-logit branch (when configured), the misalignment outputs
    (when a misalignment trait exists) and the tables' pages of the report."""
    return (
        preference_targets()
        + [L.analysis("teachers.csv"), L.analysis("members.json")]
        + (
            [L.auxlogit("summary.csv"), L.auxlogit_figure("png"), L.auxlogit_figure("pdf")]
            if "auxlogit" in config
            else []
        )
        + misalignment_targets()
        + [L.report_table(t) for t in report_tables()]
        + ([L.study(STUDY_OUTPUTS["png"])] if STUDY else [])
    )


# --- the HTML report (snakemake --report; workflow/report/ holds the captions).
# The report lists its categories, and the entries of one, in alphabetical
# order: the numbers put them in reading order. The figures are per metric
# (category: the metric, the lead metric first; label: the kind of figure);
# inside a figure, one panel per modality (and pair, trait, recipe).

#: table name -> (its file, its report category, its label)
REPORT_TABLES = {
    "summary": (L.analysis("summary.txt"), "1 · Results tables", "1 · summary.txt: read this first"),
    "specificity": (L.analysis("specificity.csv"), "1 · Results tables", "2 · specificity.csv: the lead result"),
    "placebo": (L.analysis("placebo.csv"), "1 · Results tables", "3 · placebo.csv: own vs placebo targets"),
    "compare": (L.analysis("compare.csv"), "1 · Results tables", "4 · compare.csv: every effect"),
    "interaction": (L.analysis("interaction.csv"), "1 · Results tables", "5 · interaction.csv: matched vs mismatched"),
    "teachers": (L.analysis("teachers.csv"), "1 · Results tables", "6 · teachers.csv: the teachers and their data"),
    "misalignment": (L.analysis("misalignment_summary.csv"), "5 · Misalignment", "2 · misalignment_summary.csv"),
    "auxlogit": (L.auxlogit("summary.csv"), "6 · Auxiliary logits", "2 · auxlogit/summary.csv"),
}
#: the study over pretrainings the report shows beside this run (a folder of
#: `python -m subliminal.pretrainings analyse`), or None
STUDY = config["report"]["pretrainings"]
REPORT_STUDY = "7 · Over pretrainings"
if STUDY:
    REPORT_TABLES["pooled"] = (f"{STUDY}/{STUDY_OUTPUTS['pooled']}", REPORT_STUDY, "2 · pooled.csv: the claim, pooled")
    REPORT_TABLES["pretrainings"] = (f"{STUDY}/{STUDY_OUTPUTS['per']}", REPORT_STUDY, "3 · pretrainings.csv: each one")
REPORT_METRICS = {
    "exact_share": "2 · Figures: exact_share",
    "exact": "3 · Figures: exact",
    "sampled": "4 · Figures: sampled",
}
REPORT_FIGURES = {
    "specificity": "1 · trait x target shifts (the lead result)",
    "placebo": "2 · own vs placebo targets",
    "traits": "3 · each trait's animal",
    "preferences": "4 · preference bars",
    "heatmap": "5 · cross-model heatmap",
    "forest": "6 · forest plot",
}


def report_tables():
    """The tables this config's run writes, each shown as a page in the report."""
    tables = ["teachers"]
    if grid.preference_traits(config):
        tables += ["summary", "specificity", "placebo", "compare", "interaction"]
    if grid.misalignment_traits(config):
        tables.append("misalignment")
    if "auxlogit" in config:
        tables.append("auxlogit")
    if STUDY:
        tables += ["pooled", "pretrainings"]
    return tables


def table_title(wc):
    """A report table's title: its path in the results folder, or as the
    config names it (the study's tables lie outside)."""
    src = REPORT_TABLES[wc.table][0]
    rel = os.path.relpath(src, L.results)
    return src if rel.startswith("..") else rel


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
    return Screening.of(config, modality).judge or {}


def modalities_judged_by_model(judged):
    """The modalities whose judge is (or is not) a model: tells the two
    screening rules apart, which make the same files."""
    return one_of(m for m in config["modalities"] if (judge_spec(m).get("kind") == "model") == judged)


def judge_model_input(wc):
    """A model judge's files (its toy build or hub copy)."""
    return base_model(judge_spec(wc.modality)["model"])
