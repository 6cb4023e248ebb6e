# The auxiliary-logit experiment (the paper's MNIST result): its own branch,
# independent of the language-model grid.


rule auxlogit:
    output:
        accuracy=L.auxlogit("accuracy.csv"),
        summary=L.auxlogit("summary.csv"),
    log:
        L.log(L.auxlogit("auxlogit")),
    benchmark:
        L.benchmark(L.auxlogit("auxlogit"))
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=30, mem_mb=4000, gpu=0),
    params:
        cfg=reads(lambda wc: slices.auxlogit(config)),
    script:
        "../scripts/auxlogit.py"


rule auxlogit_figure:
    input:
        L.auxlogit("summary.csv"),
    output:
        png=report(
            L.auxlogit_figure("png"),
            caption="../report/auxlogit.rst",
            category="6 · Auxiliary logits",
            labels={"result": "1 · figure: digit accuracy"},
        ),
        pdf=L.auxlogit_figure("pdf"),
    log:
        L.log(L.auxlogit_figure("png")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/auxlogit_figure.py"
