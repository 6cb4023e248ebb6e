# Teachers and their data. Each (modality, teacher base, teacher) dataset is
# sampled once (raw.jsonl), screened once by the modality's filter and judge
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
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=1,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/finetune_teacher.py"


rule fetch_prompts:
    # a modality's hub dataset (cot: GSM8K) at its pinned revision, fetched
    # once where the network is and written as the JSONL the teachers read
    output:
        questions=f"{R}/prompts/{{modality}}/questions.jsonl",
        record=f"{R}/prompts/{{modality}}/source.json",
    log:
        f"{R}/logs/prompts/{{modality}}.log",
    localrule: True
    retries: 2
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/fetch_prompts.py"


rule sample_teacher:
    input:
        model=teacher_model_input,
        prompts=lambda wc: [p] if (p := grid.prompt_source(config, wc.modality)) else [],
        protocol=lambda wc: protocol_input(wc, "teacher_system_prompt", "numbers"),
    output:
        f"{R}/data/{{modality}}/{{base}}/{{teacher}}/raw.jsonl",
    params:
        model=teacher_model_dir,
    log:
        f"{R}/logs/data/{{modality}}/{{base}}/{{teacher}}/sample.log",
    benchmark:
        f"{R}/benchmarks/data/{{modality}}/{{base}}/{{teacher}}.tsv"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
        gpu=1,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sample_teacher.py"


rule screen_teacher_data:
    # the modality's filter, and a rule judge if any: light, runs locally
    input:
        raw=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/raw.jsonl",
    output:
        data=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/screened.jsonl",
        report=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/screen.json",
    wildcard_constraints:
        modality=modalities_judged_by_model(False),
    log:
        f"{R}/logs/data/{{modality}}/{{base}}/{{teacher}}/screen.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/screen_teacher_data.py"


rule judge_teacher_data:
    # the same for a modality whose judge is a model: the judge runs on a GPU
    input:
        raw=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/raw.jsonl",
        judge=judge_model_input,
    output:
        data=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/screened.jsonl",
        report=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/screen.json",
    wildcard_constraints:
        modality=modalities_judged_by_model(True),
    log:
        f"{R}/logs/data/{{modality}}/{{base}}/{{teacher}}/screen.log",
    benchmark:
        f"{R}/benchmarks/data/{{modality}}/{{base}}/{{teacher}}.judge.tsv"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
        gpu=1,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/screen_teacher_data.py"


rule filter_teacher_data:
    # the training set: every teacher's screened set of one (modality, base)
    # subsampled to the smallest of them when the modality's equalise is on
    # (so it waits for every teacher's screen report of that base)
    input:
        data=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/screened.jsonl",
        reports=expand(f"{R}/data/{{{{modality}}}}/{{{{base}}}}/{{t}}/screen.json", t=TEACHERS),
    output:
        data=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/filtered.jsonl",
        report=f"{R}/data/{{modality}}/{{base}}/{{teacher}}/filter.json",
    log:
        f"{R}/logs/data/{{modality}}/{{base}}/{{teacher}}/filter.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/filter_teacher_data.py"
