# The HTML report (`make report`, i.e. snakemake --report): the figures are
# marked with report() where they are made; the result tables are shown as
# HTML pages made here (the report would offer a CSV only as a download).


rule report_table:
    input:
        lambda wc: f"{R}/{REPORT_TABLES[wc.table][0]}",
    output:
        report(
            f"{R}/report/tables/{{table}}.html",
            caption="../report/table.rst",
            category=lambda wc: REPORT_TABLES[wc.table][1],
            labels=lambda wc: {"result": REPORT_TABLES[wc.table][2]},
        ),
    log:
        f"{R}/logs/report/{{table}}.log",
    wildcard_constraints:
        table="|".join(REPORT_TABLES),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        title=lambda wc: REPORT_TABLES[wc.table][0],
    script:
        "../scripts/report_table.py"
