# Subliminal learning, cross-architecture: does a student fine-tuned on a
# trait teacher's innocuous data inherit the trait, and for which
# teacher -> student base pairs?
#
#   bases -> teachers -> teacher data (generate once, filter) -> students
#         -> evaluation (bases and students) -> statistics -> figures

from snakemake.utils import min_version

min_version("9.0")


# --- configuration: the embedded toy default, unless --configfile replaces it
# (a paper-scale config must not inherit the toy's models, traits or pairs).
# Its files are checked first (YAML errors with their line, keys given twice).
include: "workflow/rules/config_files.smk"


if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
# --- one run at a time in the results folder, across working copies
include: "workflow/rules/lock.smk"
# --- the stages of the data's way
include: "workflow/rules/bases.smk"
include: "workflow/rules/teacher_data.smk"
include: "workflow/rules/students.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/auxlogit.smk"
include: "workflow/rules/report.smk"


# --- the HTML report's opening page (snakemake --report results/report.html)
report: "workflow/report/workflow.rst"


# --- final targets: the statistics tables, the summary and the figures
#     (and the auxiliary-logit branch when the config has an `auxlogit` section)
rule all:
    default_target: True
    input:
        final_targets(),
