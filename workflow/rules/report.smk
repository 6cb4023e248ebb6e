# The HTML report (`make report`, i.e. snakemake --report): the figures are
# marked with report() where they are made; the result tables are shown as
# HTML pages made here (the report would offer a CSV only as a download).


rule report_table:
    input:
        lambda wc: REPORT_TABLES[wc.table][0],
    output:
        report(
            L.report_table(),
            caption="../report/table.rst",
            category=lambda wc: REPORT_TABLES[wc.table][1],
            labels=lambda wc: {"result": REPORT_TABLES[wc.table][2]},
        ),
    log:
        L.log(L.report_table()),
    wildcard_constraints:
        table=one_of(REPORT_TABLES),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        title=table_title,
    script:
        "../scripts/report_table.py"


rule study_figure:
    # the study over pretrainings (config report.pretrainings), its figure
    # copied into the results so the report can show it
    input:
        f"{STUDY}/{STUDY_OUTPUTS['png']}",
    output:
        report(
            L.study(STUDY_OUTPUTS["png"]),
            caption="../report/pretrainings.rst",
            category=REPORT_STUDY,
            labels={"result": "1 · figure: every pretraining and the pooled estimate"},
        ),
    log:
        L.log(L.study(STUDY_OUTPUTS["png"])),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cp {input:q} {output:q} 2> {log:q}"
