# Base models, each in {results}/bases/<name>/model, which every job that
# uses the base takes as input. Toys: a transformers model class from a
# small config, a tokenizer built offline, a short pretraining. Hub models:
# the pinned revision fetched once (a local rule: it runs where the network
# is, e.g. a cluster's login node), its record beside it. Local paths need
# no rule.


rule build_toy_base:
    output:
        directory(f"{R}/bases/{{base}}/model"),
    log:
        f"{R}/logs/bases/{{base}}.log",
    benchmark:
        f"{R}/benchmarks/bases/{{base}}.tsv"
    wildcard_constraints:
        base=bases_of_kind("toy"),
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
        gpu=0,
    params:
        # what the toy is made from: a change in the config rebuilds it
        # (and so everything downstream); the script reads the same config
        made_from=lambda wc: grid.toy_recipe(config, wc.base),
    script:
        "../scripts/build_toy_base.py"


rule fetch_base:
    output:
        model=directory(f"{R}/bases/{{base}}/model"),
        record=f"{R}/bases/{{base}}/source.json",
    log:
        f"{R}/logs/bases/{{base}}.fetch.log",
    benchmark:
        f"{R}/benchmarks/bases/{{base}}.fetch.tsv"
    wildcard_constraints:
        base=bases_of_kind("hub"),
    retries: 2
    localrule: True
    conda:
        "../../envs/train.yaml"
    params:
        repo_id=lambda wc: config["models"][wc.base]["hub"]["id"],
        revision=lambda wc: config["models"][wc.base]["hub"]["revision"],
    script:
        "../scripts/fetch_base.py"
