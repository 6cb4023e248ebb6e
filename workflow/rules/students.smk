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
        model=directory(
            f"{R}/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}/model"
        ),
        provenance=f"{R}/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}/provenance.json",
    log:
        f"{R}/logs/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/students/{{modality}}/{{teacher_base}}/{{teacher}}/{{student_base}}/{{recipe}}/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: THREADS
    resources:
        # host memory: every training process loads its own copy of the base
        mem_mb=lambda wc, attempt: TRAIN_MEM_MB * recipe_gpus(wc) * attempt,
        runtime=lambda wc, attempt: 240 * attempt,
        # gpus > 1: one data-parallel process per GPU (torchrun; see train.py)
        gpu=recipe_gpus,
    script:
        "../scripts/train_student.py"
