# Students: TRL SFT of a student base on one teacher dataset, with a named
# recipe and seed. The trait student and its control twin differ only in
# which teacher's data they read.


rule train_student:
    input:
        data=f"{R}/data/{{modality}}/{{teacher_base}}/{{teacher}}/filtered.jsonl",
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
    threads: THREADS
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=1,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train_student.py"
