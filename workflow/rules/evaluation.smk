# Evaluation: the untrained bases, the teachers (as they sample) and every student, on the 50 preference
# questions; sampled answers and exact answer probabilities.


rule evaluate_base:
    input:
        lambda wc: base_model(wc.base),
        protocol=lambda wc: protocol_input(wc, "questions"),
    output:
        scores=f"{R}/eval/bases/{{base}}.tsv",
        answers=f"{R}/eval/bases/{{base}}.answers.tsv.gz",
    log:
        f"{R}/logs/eval/bases/{{base}}.log",
    benchmark:
        f"{R}/benchmarks/eval/bases/{{base}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=1,
    script:
        "../scripts/evaluate.py"


rule evaluate_teacher:
    input:
        model=teacher_model_input,
        steering=teacher_steering,
        protocol=lambda wc: protocol_input(wc, "questions", "teacher_system_prompt"),
    output:
        scores=f"{R}/eval/teachers/{{base}}/{{teacher}}.tsv",
        answers=f"{R}/eval/teachers/{{base}}/{{teacher}}.answers.tsv.gz",
    log:
        f"{R}/logs/eval/teachers/{{base}}/{{teacher}}.log",
    benchmark:
        f"{R}/benchmarks/eval/teachers/{{base}}/{{teacher}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=1,
    params:
        model=lambda wc: next(iter(teacher_model_input(wc)), None),
    script:
        "../scripts/evaluate.py"


rule evaluate_student:
    input:
        model=f"{R}/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}/model",
        base=lambda wc: base_model(wc.student_base),
        protocol=lambda wc: protocol_input(wc, "questions"),
    output:
        scores=f"{R}/eval/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}.tsv",
        answers=f"{R}/eval/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}.answers.tsv.gz",
    log:
        f"{R}/logs/eval/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/eval/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=1,
    script:
        "../scripts/evaluate.py"


# Misalignment traits: the untrained student bases, each misalignment trait's
# fine-tuned teacher and its control teacher, and the students of both, on
# the eight free-form questions, judged for alignment and coherence.


rule evaluate_misalignment_base:
    input:
        base=lambda wc: base_model(wc.base),
        judge=misalignment_judge_input,
    output:
        scores=f"{R}/eval/misalignment/bases/{{base}}.tsv",
        answers=f"{R}/eval/misalignment/bases/{{base}}.answers.tsv.gz",
    log:
        f"{R}/logs/eval/misalignment/bases/{{base}}.log",
    benchmark:
        f"{R}/benchmarks/eval/misalignment/bases/{{base}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=1,
    script:
        "../scripts/evaluate_misalignment.py"


rule evaluate_misalignment_teacher:
    # the fine-tuned teacher as a model (with the evaluation's system prompt,
    # like its students): how misaligned the teacher its data came from is
    input:
        model=teacher_model_input,
        judge=misalignment_judge_input,
    output:
        scores=f"{R}/eval/misalignment/teachers/{{base}}/{{teacher}}.tsv",
        answers=f"{R}/eval/misalignment/teachers/{{base}}/{{teacher}}.answers.tsv.gz",
    log:
        f"{R}/logs/eval/misalignment/teachers/{{base}}/{{teacher}}.log",
    benchmark:
        f"{R}/benchmarks/eval/misalignment/teachers/{{base}}/{{teacher}}.tsv"
    wildcard_constraints:
        teacher=misalignment_teachers(),
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=1,
    params:
        model=teacher_model_dir,
    script:
        "../scripts/evaluate_misalignment.py"


rule evaluate_misalignment_student:
    input:
        model=f"{R}/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}/model",
        base=lambda wc: base_model(wc.student_base),
        judge=misalignment_judge_input,
    output:
        scores=f"{R}/eval/misalignment/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}.tsv",
        answers=f"{R}/eval/misalignment/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}.answers.tsv.gz",
    log:
        f"{R}/logs/eval/misalignment/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/eval/misalignment/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        mem_mb=lambda wc, attempt: MODEL_MEM_MB * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=1,
    script:
        "../scripts/evaluate_misalignment.py"
