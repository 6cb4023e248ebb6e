# Teachers and their data. Each (modality, teacher base, teacher) dataset is
# sampled once and filtered once; every student that learns from it reads it.


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
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=1,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/finetune_teacher.py"


rule sample_teacher:
    input:
        teacher_model_input,
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
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
        gpu=1,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sample_teacher.py"


rule filter_teacher_data:
    input:
        f"{R}/data/{{modality}}/{{base}}/{{teacher}}/raw.jsonl",
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
