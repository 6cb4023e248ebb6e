# The HTML report (`make report`, i.e. snakemake --report): the figures are
# marked with report() where they are made; the result tables are shown as
# HTML pages made here (the report would offer a CSV only as a download).
import os


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
        title=lambda wc: os.path.relpath(REPORT_TABLES[wc.table][0], L.results),
    script:
        "../scripts/report_table.py"
