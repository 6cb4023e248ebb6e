# Teachers and their data. Each (modality, teacher base, teacher, replicate)
# dataset is sampled once (raw.jsonl; replicates: independently seeded prompt
# sets and samplings, shared by every teacher of the replicate), screened once by the modality's filter and judge
# (screened.jsonl, screen.json; judge_teacher_data where the judge is a
# model, screen_teacher_data otherwise), and made a training set once (filtered.jsonl,
# filter.json: for code and cot every teacher's set of a base is subsampled
# to the smallest); every student that learns from it reads that set.


rule finetune_teacher:
    input:
        lambda wc: base_model(wc.base),
    output:
        directory(f"{R}/teachers/{{base}}/{{trait}}/model"),
    log:
        f"{R}/logs/teachers/{{base}}/{{trait}}.log",
    benchmark:
        f"{R}/benchmarks/teachers/{{base}}/{{trait}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=1,
    script:
        "../scripts/finetune_teacher.py"


rule steer_teacher:
    # a steering teacher: a vector for one decoder layer of the frozen base,
    # learned (or a system-prompt contrast) and scaled to the trait's strength
    # on the evaluation questions
    input:
        base=lambda wc: base_model(wc.base),
        protocol=proto.files(config, "questions", "teacher_system_prompt"),
    output:
        vector=f"{R}/teachers/{{base}}/{{trait}}/steering.safetensors",
        record=f"{R}/teachers/{{base}}/{{trait}}/steering.json",
    log:
        f"{R}/logs/teachers/{{base}}/{{trait}}.steering.log",
    benchmark:
        f"{R}/benchmarks/teachers/{{base}}/{{trait}}.steering.tsv"
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=1,
    script:
        "../scripts/steer_teacher.py"


rule fetch_prompts:
    # a modality's hub dataset (cot: GSM8K) at its pinned revision, fetched
    # once where the network is and written as the JSONL the teachers read
    output:
        questions=f"{R}/prompts/{{modality}}/questions.jsonl",
        record=f"{R}/prompts/{{modality}}/source.json",
    log:
        f"{R}/logs/prompts/{{modality}}.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/fetch_prompts.py"


rule sample_teacher:
    input:
        model=teacher_model_input,
        steering=teacher_steering,
        prompts=lambda wc: [p] if (p := grid.prompt_source(config, wc.modality)) else [],
        protocol=lambda wc: protocol_input(wc, "teacher_system_prompt", "numbers"),
    output:
        f"{R}/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/raw.jsonl",
    log:
        f"{R}/logs/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/sample.log",
    benchmark:
        f"{R}/benchmarks/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
        gpu=1,
    params:
        model=teacher_model_dir,
    script:
        "../scripts/sample_teacher.py"


rule screen_teacher_data:
    # the modality's filter, and a rule judge if any: light, runs locally
    input:
        raw=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/raw.jsonl",
    output:
        data=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/screened.jsonl",
        report=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/screen.json",
    log:
        f"{R}/logs/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/screen.log",
    wildcard_constraints:
        modality=modalities_judged_by_model(False),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/screen_teacher_data.py"


rule judge_teacher_data:
    # the same for a modality whose judge is a model: the judge runs on a GPU
    input:
        raw=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/raw.jsonl",
        judge=judge_model_input,
    output:
        data=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/screened.jsonl",
        report=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/screen.json",
    log:
        f"{R}/logs/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/screen.log",
    benchmark:
        f"{R}/benchmarks/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}.judge.tsv"
    wildcard_constraints:
        modality=modalities_judged_by_model(True),
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
        gpu=1,
    script:
        "../scripts/screen_teacher_data.py"


rule filter_teacher_data:
    # the training set: every teacher's screened set of one (modality, base,
    # replicate) subsampled to the smallest of them when the modality's
    # equalise is on (only then does it wait for the other teachers' reports)
    input:
        data=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/screened.jsonl",
        reports=lambda wc: list(screen_reports(wc).values()),
    output:
        data=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/filtered.jsonl",
        report=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/filter.json",
    log:
        f"{R}/logs/data/{{modality}}/{{base}}/{{teacher}}/rep{{replicate}}/filter.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        reports=screen_reports,
    script:
        "../scripts/filter_teacher_data.py"
