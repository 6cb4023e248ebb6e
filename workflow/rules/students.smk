# Students: TRL SFT of a student base on one teacher dataset, with a named
# recipe and seed. The trait student and its control twin differ only in
# which teacher's data they read.
#
# Interrupted training resumes: checkpoints go to seed<N>/checkpoints, next to
# the outputs and not inside them (Snakemake deletes a failed job's outputs
# and those of a job it reruns, nothing else), so a job that failed, was
# cancelled or ran out of time (resubmitted by --retries, or rerun later with
# --rerun-incomplete) continues from its last checkpoint; they are deleted
# once the model is saved. A retried attempt also gets more memory and time.


rule train_student:
    input:
        data=student_data,
        base=lambda wc: base_model(wc.student_base),
    output:
        model=directory(L.student("model")),
        provenance=L.student("provenance.json"),
    log:
        L.log(L.student("model")),
    benchmark:
        L.benchmark(L.student("model"))
    conda:
        "../../envs/train.yaml"
    threads: RESOURCES["threads"]
    resources:
        # host memory: every training process loads its own copy of the base;
        # gpus > 1: one data-parallel process per GPU (torchrun; see train.py)
        **heavy(runtime=240, mem_mb=lambda wc: RESOURCES["train_mem_mb"] * recipe_gpus(wc), gpu=recipe_gpus),
    params:
        cfg=reads(lambda wc: slices.train_student(config, student_of(wc))),
    script:
        "../scripts/train_student.py"
