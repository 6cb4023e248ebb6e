# Base models, each in {results}/bases/<name>/model, which every job that
# uses the base takes as input. Toys: a transformers model class from a
# small config, a tokenizer built offline, a short pretraining. Hub models:
# the pinned revision fetched once (a local rule: it runs where the network
# is, e.g. a cluster's login node), its record beside it. Local paths need
# no rule.


rule build_toy_base:
    output:
        directory(L.base_model()),
    log:
        L.log(L.base_model()),
    benchmark:
        L.benchmark(L.base_model())
    wildcard_constraints:
        base=bases_of_kind("toy"),
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=30, mem_mb=4000, gpu=0),
    params:
        # what the toy is made from: a change in the config rebuilds it
        # (and so everything downstream); the build receives it
        made_from=lambda wc: slices.toy_base(config, wc.base),
    script:
        "../scripts/build_toy_base.py"


rule fetch_base:
    output:
        model=directory(L.base_model()),
        record=L.base_record(),
    log:
        L.log(L.base_record()),
    benchmark:
        L.benchmark(L.base_record())
    wildcard_constraints:
        base=bases_of_kind("hub"),
    retries: 2
    localrule: True
    conda:
        "../../envs/train.yaml"
    params:
        repo_id=lambda wc: config["models"][wc.base]["hub"]["id"],
        revision=lambda wc: config["models"][wc.base]["hub"]["revision"],
        cfg=reads(lambda wc: slices.base(config, wc.base)),
    script:
        "../scripts/fetch_base.py"
