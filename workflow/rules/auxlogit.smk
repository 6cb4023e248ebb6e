# The auxiliary-logit experiment (the paper's MNIST result): its own branch,
# independent of the language-model grid.


rule auxlogit:
    output:
        accuracy=f"{R}/auxlogit/accuracy.csv",
        summary=f"{R}/auxlogit/summary.csv",
    log:
        f"{R}/logs/auxlogit/auxlogit.log",
    benchmark:
        f"{R}/benchmarks/auxlogit.tsv"
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
        gpu=0,
    script:
        "../scripts/auxlogit.py"


rule auxlogit_figure:
    input:
        f"{R}/auxlogit/summary.csv",
    output:
        png=report(
            f"{R}/figures/auxlogit.png",
            caption="../report/auxlogit.rst",
            category="6 · Auxiliary logits",
            labels={"result": "1 · figure: digit accuracy"},
        ),
        pdf=f"{R}/figures/auxlogit.pdf",
    log:
        f"{R}/logs/figures/auxlogit.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/auxlogit_figure.py"
