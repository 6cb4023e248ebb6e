# Toy bases: a transformers model class from a small config, a tokenizer
# built offline, a short pretraining. Hub and local models need no rule.


rule build_toy_base:
    output:
        directory(f"{R}/bases/{{base}}/model"),
    log:
        f"{R}/logs/bases/{{base}}.log",
    benchmark:
        f"{R}/benchmarks/bases/{{base}}.tsv"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
        gpu=0,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/build_toy_base.py"
