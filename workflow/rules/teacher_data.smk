# Teachers and their data. Each (modality, teacher base, teacher, replicate)
# dataset is sampled once (raw.jsonl; replicates: independently seeded prompt
# sets and samplings, shared by every teacher of the replicate), screened
# once by the modality's filter and judge (screened.jsonl, screen.json;
# judge_teacher_data where the judge is a model, screen_teacher_data
# otherwise), and made a training set once (filtered.jsonl, filter.json: for
# code and cot every teacher's set of a base is subsampled to the smallest);
# every student that learns from it reads that set.


rule finetune_teacher:
    input:
        lambda wc: base_model(wc.teacher_base),
    output:
        model=directory(L.teacher("model")),
        provenance=L.teacher("provenance.json"),
    log:
        L.log(L.teacher("model")),
    benchmark:
        L.benchmark(L.teacher("model"))
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=60),
    params:
        cfg=reads(lambda wc: slices.finetune_teacher(config, wc.teacher_base, wc.teacher)),
    script:
        "../scripts/finetune_teacher.py"


rule steer_teacher:
    # a steering teacher: a vector for one decoder layer of the frozen base,
    # learned (or a system-prompt contrast) and scaled to the trait's strength
    # on the evaluation questions
    input:
        base=lambda wc: base_model(wc.teacher_base),
        protocol=proto.files(config, "questions", "teacher_system_prompt"),
    output:
        vector=L.teacher("steering.safetensors"),
        record=L.teacher("steering.json"),
    log:
        L.log(L.teacher("steering.safetensors")),
    benchmark:
        L.benchmark(L.teacher("steering.safetensors"))
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=60),
    params:
        cfg=reads(lambda wc: slices.steer_teacher(config, wc.teacher_base, wc.teacher)),
    script:
        "../scripts/steer_teacher.py"


rule fetch_prompts:
    # a modality's hub dataset (cot: GSM8K) at its pinned revision, fetched
    # once where the network is and written as the JSONL the teachers read
    output:
        questions=L.prompts("questions.jsonl"),
        record=L.prompts("source.json"),
    log:
        L.log(L.prompts("questions.jsonl")),
    retries: 2
    localrule: True
    conda:
        "../../envs/train.yaml"
    params:
        cfg=reads(lambda wc: slices.prompts(config, wc.modality)),
    script:
        "../scripts/fetch_prompts.py"


rule sample_teacher:
    input:
        teacher=teacher_input,
        prompts=lambda wc: [p] if (p := grid.prompt_source(config, wc.modality)) else [],
        protocol=lambda wc: protocol_input(wc, "teacher_system_prompt", "numbers"),
    output:
        L.data("raw.jsonl"),
    log:
        L.log(L.data("raw.jsonl")),
    benchmark:
        L.benchmark(L.data("raw.jsonl"))
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=120),
    params:
        cfg=reads(lambda wc: slices.sample_teacher(config, wc.modality, wc.teacher_base, wc.teacher)),
    script:
        "../scripts/sample_teacher.py"


rule screen_teacher_data:
    # the modality's filter, and a rule judge if any: light, runs locally
    input:
        raw=L.data("raw.jsonl"),
    output:
        data=L.data("screened.jsonl"),
        report=L.data("screen.json"),
    log:
        L.log(L.data("screened.jsonl")),
    wildcard_constraints:
        modality=modalities_judged_by_model(False),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        cfg=reads(lambda wc: slices.screen_teacher_data(config, wc.modality, wc.teacher)),
    script:
        "../scripts/screen_teacher_data.py"


rule judge_teacher_data:
    # the same for a modality whose judge is a model: the judge runs on a GPU
    input:
        raw=L.data("raw.jsonl"),
        judge=judge_model_input,
    output:
        data=L.data("screened.jsonl"),
        report=L.data("screen.json"),
    log:
        L.log(L.data("screened.jsonl")),
    benchmark:
        L.benchmark(L.data("screened.jsonl"))
    wildcard_constraints:
        modality=modalities_judged_by_model(True),
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=120),
    params:
        cfg=reads(lambda wc: slices.screen_teacher_data(config, wc.modality, wc.teacher)),
    script:
        "../scripts/screen_teacher_data.py"


rule filter_teacher_data:
    # the training set: every teacher's screened set of one (modality, base,
    # replicate) subsampled to the smallest of them when the modality's
    # equalise is on (only then does it wait for the other teachers' reports)
    input:
        data=L.data("screened.jsonl"),
        reports=lambda wc: list(screen_reports(wc).values()),
    output:
        data=L.data("filtered.jsonl"),
        report=L.data("filter.json"),
    log:
        L.log(L.data("filtered.jsonl")),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        reports=screen_reports,
        cfg=reads(lambda wc: slices.filter_teacher_data(config, wc.modality)),
    script:
        "../scripts/filter_teacher_data.py"
