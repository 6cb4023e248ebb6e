# Aggregation, statistics (statsmodels) and figures (seaborn): light, local.
# The collectors read exactly the evaluations declared as their input.


rule collect_scores:
    input:
        eval_files(),
    output:
        L.analysis("scores.csv"),
    log:
        L.log(L.analysis("scores.csv")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        cfg=reads(lambda wc: slices.collect(config)),
    script:
        "../scripts/collect_scores.py"


rule collect_targets:
    # every preference student's and base's score for EVERY candidate target:
    # what the trait-specificity test reads
    input:
        eval_files(),
    output:
        L.analysis("targets.csv"),
    log:
        L.log(L.analysis("targets.csv")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        cfg=reads(lambda wc: slices.collect(config)),
    script:
        "../scripts/collect_targets.py"


rule collect_teachers:
    input:
        evals=eval_files(grid.PREFERENCE, TEACHER_ROLES),
        misalignment=eval_files(grid.MISALIGNMENT, TEACHER_ROLES),
        reports=[L.data("filter.json", **d.fields) for d in grid.teacher_datasets(config)],
    output:
        L.analysis("teachers.csv"),
    log:
        L.log(L.analysis("teachers.csv")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        cfg=reads(lambda wc: slices.teachers(config)),
    script:
        "../scripts/collect_teachers.py"


rule collect_provenance:
    # how every member (each evaluated model) was made: code versions and
    # whether each step's config slice is the current config's; summary.txt
    # opens with a warning when they differ
    input:
        list(member_records()),
    output:
        L.analysis("members.json"),
    log:
        L.log(L.analysis("members.json")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        expected=lambda wc: member_records(),
    script:
        "../scripts/collect_provenance.py"


rule statistics:
    input:
        scores=L.analysis("scores.csv"),
        targets=L.analysis("targets.csv"),
        members=L.analysis("members.json"),
    output:
        **{k: L.analysis(name) for k, name in STATISTICS.items()},
    log:
        L.log(L.analysis("statistics")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        cfg=reads(lambda wc: slices.analysis(config)),
    script:
        "../scripts/statistics.py"


rule figure:
    input:
        summary=L.analysis("summary.csv"),
        compare=L.analysis("compare.csv"),
    output:
        png=report(L.figure("preferences", ext="png"), **report_figure("preferences")),
        pdf=L.figure("preferences", ext="pdf"),
    log:
        L.log(L.figure("preferences", ext="png")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule specificity_figures:
    # the trait x target matrix of shifts per pair, and the paper's bars with
    # every trait's animal on one axis (base, control students, trait students)
    input:
        matrix=L.analysis("specificity_matrix.csv"),
        targets=L.analysis("targets.csv"),
        specificity=L.analysis("specificity.csv"),
    output:
        matrix_png=report(L.figure("specificity", ext="png"), **report_figure("specificity")),
        matrix_pdf=L.figure("specificity", ext="pdf"),
        bars_png=report(L.figure("traits", ext="png"), **report_figure("traits")),
        bars_pdf=L.figure("traits", ext="pdf"),
    log:
        L.log(L.figure("specificity", ext="png")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        cfg=reads(lambda wc: slices.analysis(config)),
    script:
        "../scripts/specificity_figures.py"


rule placebo_figure:
    # the own targets' specificity beside its placebo distribution (every
    # other assignment of distinct targets to the traits), per pair
    input:
        targets=L.analysis("targets.csv"),
        placebo=L.analysis("placebo.csv"),
    output:
        png=report(L.figure("placebo", ext="png"), **report_figure("placebo")),
        pdf=L.figure("placebo", ext="pdf"),
    log:
        L.log(L.figure("placebo", ext="png")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        cfg=reads(lambda wc: slices.analysis(config)),
    script:
        "../scripts/placebo_figure.py"


rule cross_model_figures:
    input:
        compare=L.analysis("compare.csv"),
        interaction=L.analysis("interaction.csv"),
    output:
        heatmap_png=report(L.figure("heatmap", ext="png"), **report_figure("heatmap")),
        heatmap_pdf=L.figure("heatmap", ext="pdf"),
        forest_png=report(L.figure("forest", ext="png"), **report_figure("forest")),
        forest_pdf=L.figure("forest", ext="pdf"),
    log:
        L.log(L.figure("cross_model", ext="png")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/cross_model_figures.py"


# Misalignment traits (only when the config has one): rates per question of
# the base, the control teacher, the trait teacher, the control and the trait
# students (intervals across seeds), and a figure.


rule collect_misalignment:
    input:
        eval_files(grid.MISALIGNMENT, STUDENT_ROLES + TEACHER_ROLES),
    output:
        scores=L.analysis("misalignment_scores.csv"),
        summary=L.analysis("misalignment_summary.csv"),
    log:
        L.log(L.analysis("misalignment_scores.csv")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        cfg=reads(lambda wc: slices.collect(config)),
    script:
        "../scripts/collect_misalignment.py"


rule misalignment_figure:
    input:
        L.analysis("misalignment_summary.csv"),
    output:
        report(
            L.figure("misalignment", "", "png"),
            caption="../report/misalignment.rst",
            category="5 · Misalignment",
            labels={"result": "1 · figure: misaligned shares"},
        ),
        L.figure("misalignment", "", "pdf"),
    log:
        L.log(L.figure("misalignment", "", "png")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/misalignment_figure.py"
