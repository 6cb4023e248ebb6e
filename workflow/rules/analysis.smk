# Aggregation, statistics (statsmodels) and figures (seaborn): light, local.


rule collect_scores:
    input:
        eval_files(),
    output:
        f"{R}/analysis/scores.csv",
    log:
        f"{R}/logs/analysis/collect_scores.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/collect_scores.py"


rule collect_targets:
    # every preference student's and base's score for EVERY candidate target:
    # what the trait-specificity test reads
    input:
        eval_files(),
    output:
        f"{R}/analysis/targets.csv",
    log:
        f"{R}/logs/analysis/collect_targets.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/collect_targets.py"


rule collect_teachers:
    input:
        evals=teacher_eval_files(),
        misalignment=misalignment_teacher_eval_files(),
        reports=[f"{R}/data/{d.modality}/{d.base}/{d.teacher}/rep{d.replicate}/filter.json" for d in grid.teacher_datasets(config)],
    output:
        f"{R}/analysis/teachers.csv",
    log:
        f"{R}/logs/analysis/collect_teachers.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/collect_teachers.py"


rule statistics:
    input:
        scores=f"{R}/analysis/scores.csv",
        targets=f"{R}/analysis/targets.csv",
    output:
        summary=f"{R}/analysis/summary.csv",
        compare=f"{R}/analysis/compare.csv",
        interaction=f"{R}/analysis/interaction.csv",
        specificity=f"{R}/analysis/specificity.csv",
        matrix=f"{R}/analysis/specificity_matrix.csv",
        text=f"{R}/analysis/summary.txt",
    log:
        f"{R}/logs/analysis/statistics.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/statistics.py"


rule figure:
    input:
        summary=f"{R}/analysis/summary.csv",
        compare=f"{R}/analysis/compare.csv",
    output:
        png=report(f"{R}/figures/preferences_{{metric}}.png", **report_figure("preferences")),
        pdf=f"{R}/figures/preferences_{{metric}}.pdf",
    log:
        f"{R}/logs/figures/preferences_{{metric}}.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule specificity_figures:
    # the trait x target matrix of shifts per pair, and the paper's bars with
    # every trait's animal on one axis (base, control students, trait students)
    input:
        matrix=f"{R}/analysis/specificity_matrix.csv",
        targets=f"{R}/analysis/targets.csv",
        specificity=f"{R}/analysis/specificity.csv",
    output:
        matrix_png=report(f"{R}/figures/specificity_{{metric}}.png", **report_figure("specificity")),
        matrix_pdf=f"{R}/figures/specificity_{{metric}}.pdf",
        bars_png=report(f"{R}/figures/traits_{{metric}}.png", **report_figure("traits")),
        bars_pdf=f"{R}/figures/traits_{{metric}}.pdf",
    log:
        f"{R}/logs/figures/specificity_{{metric}}.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/specificity_figures.py"


rule cross_model_figures:
    input:
        compare=f"{R}/analysis/compare.csv",
        interaction=f"{R}/analysis/interaction.csv",
    output:
        heatmap_png=report(f"{R}/figures/heatmap_{{metric}}.png", **report_figure("heatmap")),
        heatmap_pdf=f"{R}/figures/heatmap_{{metric}}.pdf",
        forest_png=report(f"{R}/figures/forest_{{metric}}.png", **report_figure("forest")),
        forest_pdf=f"{R}/figures/forest_{{metric}}.pdf",
    log:
        f"{R}/logs/figures/cross_model_{{metric}}.log",
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
        misalignment_eval_files(),
    output:
        scores=f"{R}/analysis/misalignment_scores.csv",
        summary=f"{R}/analysis/misalignment_summary.csv",
    log:
        f"{R}/logs/analysis/collect_misalignment.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/collect_misalignment.py"


rule misalignment_figure:
    input:
        f"{R}/analysis/misalignment_summary.csv",
    output:
        report(
            f"{R}/figures/misalignment.png",
            caption="../report/misalignment.rst",
            category="5 · Misalignment",
            labels={"result": "1 · figure: misaligned shares"},
        ),
        f"{R}/figures/misalignment.pdf",
    log:
        f"{R}/logs/analysis/misalignment_figure.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/misalignment_figure.py"
