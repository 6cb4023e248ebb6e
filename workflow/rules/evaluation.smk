# Evaluation, into eval/<evaluation id>/<trait kind>/ (the id a hash of the
# evaluation settings, so an overlay that changes only the evaluation reuses
# the students): the untrained bases, the teachers and every student, one
# rule per role. The trait kind (subliminal.kinds) says what they answer:
# the 50 preference questions (sampled answers and exact answer
# probabilities) or, for a misalignment trait, the eight free-form
# questions, judged.


rule evaluate_base:
    input:
        base=lambda wc: base_model(wc.base),
        reads=evaluation_input,
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
        cfg=reads(lambda wc: slices.evaluate(config, wc.base, kind=wc.trait_kind)),
        member=evaluated_identity(lambda wc: grid.evaluated_base(wc.base)),
    script:
        "../scripts/evaluate.py"


rule evaluate_teacher:
    # a preference teacher as it samples its data (its system prompt or
    # steering); a fine-tuned misalignment teacher as a model, with the
    # evaluation's system prompt like its students
    input:
        teacher=teacher_input,
        reads=evaluation_input,
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
        cfg=reads(lambda wc: slices.evaluate(config, wc.teacher_base, wc.teacher, kind=wc.trait_kind)),
        member=evaluated_identity(lambda wc: grid.evaluated_teacher(wc.teacher_base, wc.teacher)),
    script:
        "../scripts/evaluate.py"


rule evaluate_student:
    input:
        model=L.student("model"),
        trained=L.student("provenance.json"),
        base=lambda wc: base_model(wc.student_base),
        reads=evaluation_input,
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
        cfg=reads(lambda wc: slices.evaluate(config, wc.student_base, kind=wc.trait_kind)),
        member=evaluated_identity(lambda wc: grid.evaluated_student(config, student_of(wc))),
    script:
        "../scripts/evaluate.py"
