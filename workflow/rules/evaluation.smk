# Evaluation, into eval/<evaluation id>/ (a hash of the evaluation settings,
# so an overlay that changes only the evaluation reuses the students): the
# untrained bases, the teachers (as they sample) and every student, on the 50
# preference questions (sampled answers and exact answer probabilities); and
# for misalignment traits on the eight free-form questions, judged.


rule evaluate_base:
    input:
        lambda wc: base_model(wc.base),
        protocol=lambda wc: protocol_input(wc, "questions"),
    output:
        scores=L.eval_base(),
        answers=L.eval_base(".answers.tsv.gz"),
        record=L.eval_base(".provenance.json"),
    log:
        L.log(L.eval_base()),
    benchmark:
        L.benchmark(L.eval_base())
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=60),
    params:
        cfg=reads(lambda wc: slices.evaluate(config, wc.base)),
        member=evaluated_identity(lambda wc: grid.evaluated_base(wc.base)),
    script:
        "../scripts/evaluate.py"


rule evaluate_teacher:
    input:
        teacher=teacher_input,
        protocol=lambda wc: protocol_input(wc, "questions", "teacher_system_prompt"),
    output:
        scores=L.eval_teacher(),
        answers=L.eval_teacher(".answers.tsv.gz"),
        record=L.eval_teacher(".provenance.json"),
    log:
        L.log(L.eval_teacher()),
    benchmark:
        L.benchmark(L.eval_teacher())
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=60),
    params:
        cfg=reads(lambda wc: slices.evaluate(config, wc.base, wc.teacher)),
        member=evaluated_identity(lambda wc: grid.evaluated_teacher(wc.base, wc.teacher)),
    script:
        "../scripts/evaluate.py"


rule evaluate_student:
    input:
        model=L.student("model"),
        trained=L.student("provenance.json"),
        base=lambda wc: base_model(wc.student_base),
        protocol=lambda wc: protocol_input(wc, "questions"),
    output:
        scores=L.eval_student(),
        answers=L.eval_student(".answers.tsv.gz"),
        record=L.eval_student(".provenance.json"),
    log:
        L.log(L.eval_student()),
    benchmark:
        L.benchmark(L.eval_student())
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=60),
    params:
        cfg=reads(lambda wc: slices.evaluate(config, wc.student_base)),
        member=evaluated_identity(lambda wc: grid.evaluated_student(config, student_of(wc))),
    script:
        "../scripts/evaluate.py"


rule evaluate_misalignment_base:
    input:
        base=lambda wc: base_model(wc.base),
        judge=misalignment_judge_input,
    output:
        scores=L.eval_base(kind="misalignment/"),
        answers=L.eval_base(".answers.tsv.gz", kind="misalignment/"),
        record=L.eval_base(".provenance.json", kind="misalignment/"),
    log:
        L.log(L.eval_base(kind="misalignment/")),
    benchmark:
        L.benchmark(L.eval_base(kind="misalignment/"))
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=60),
    params:
        cfg=reads(lambda wc: slices.evaluate(config, wc.base, kind=grid.MISALIGNMENT)),
        member=evaluated_identity(lambda wc: grid.evaluated_base(wc.base)),
    script:
        "../scripts/evaluate_misalignment.py"


rule evaluate_misalignment_teacher:
    # the fine-tuned teacher as a model (with the evaluation's system prompt,
    # like its students): how misaligned the teacher its data came from is
    input:
        teacher=teacher_input,
        judge=misalignment_judge_input,
    output:
        scores=L.eval_teacher(kind="misalignment/"),
        answers=L.eval_teacher(".answers.tsv.gz", kind="misalignment/"),
        record=L.eval_teacher(".provenance.json", kind="misalignment/"),
    log:
        L.log(L.eval_teacher(kind="misalignment/")),
    benchmark:
        L.benchmark(L.eval_teacher(kind="misalignment/"))
    wildcard_constraints:
        teacher=misalignment_teachers(),
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=60),
    params:
        cfg=reads(lambda wc: slices.evaluate(config, wc.base, wc.teacher, kind=grid.MISALIGNMENT)),
        member=evaluated_identity(lambda wc: grid.evaluated_teacher(wc.base, wc.teacher)),
    script:
        "../scripts/evaluate_misalignment.py"


rule evaluate_misalignment_student:
    input:
        model=L.student("model"),
        trained=L.student("provenance.json"),
        base=lambda wc: base_model(wc.student_base),
        judge=misalignment_judge_input,
    output:
        scores=L.eval_student(kind="misalignment/"),
        answers=L.eval_student(".answers.tsv.gz", kind="misalignment/"),
        record=L.eval_student(".provenance.json", kind="misalignment/"),
    log:
        L.log(L.eval_student(kind="misalignment/")),
    benchmark:
        L.benchmark(L.eval_student(kind="misalignment/"))
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        **heavy(runtime=60),
    params:
        cfg=reads(lambda wc: slices.evaluate(config, wc.student_base, kind=grid.MISALIGNMENT)),
        member=evaluated_identity(lambda wc: grid.evaluated_student(config, student_of(wc))),
    script:
        "../scripts/evaluate_misalignment.py"
