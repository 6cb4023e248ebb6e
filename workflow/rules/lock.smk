# What a run does when it starts its jobs (onstart): the results folder's
# lock, and on a local run the warm process its model jobs fork from.
#
# One results folder, one run (subliminal.lock): a run takes a lock in the
# results folder when it starts its jobs and gives it back when it ends;
# while another working copy's run holds it, every call here is refused
# (a dry run too). `snakemake --unlock` also removes this copy's lock left
# behind by a killed run. Jobs (a SLURM job, a local subprocess) are not
# checked: their run holds the lock.
import sys
from pathlib import Path

from subliminal import lock as results_lock, warm

if workflow.is_main_process:
    if "--unlock" in sys.argv:  # Snakemake tells a Snakefile nothing else of it
        if results_lock.unlock(config["results"]):
            print(f"Unlocked results folder {Path(config['results']).resolve()}.", file=sys.stderr)
    else:
        try:
            results_lock.check(config["results"])
        except results_lock.ResultsLocked as err:
            sys.exit(f"results locked: {err}")


onstart:
    try:
        results_lock.acquire(config["results"])
    except results_lock.ResultsLocked as err:
        sys.exit(f"results locked: {err}")
    # Local runs only: the model jobs fork from one process that has imported
    # torch and transformers once (subliminal.warm); a cluster's jobs, on
    # other nodes or in their own allocation, start their own, and so does a
    # job of a run that deploys software per rule (--sdm conda, apptainer):
    # its packages are its rule's environment's, not this process's.
    if (
        workflow.is_main_process
        and workflow.local_exec
        and not workflow.dryrun
        and not workflow.touch
        and not workflow.deployment_settings.deployment_method
    ):
        warm.start(L.log(f"{L.results}/warm"))
