# One results folder, one run (subliminal.lock): a run takes a lock in the
# results folder when it starts its jobs and gives it back when it ends;
# while another working copy's run holds it, every call here is refused
# (a dry run too). `snakemake --unlock` also removes this copy's lock left
# behind by a killed run. Jobs (a SLURM job, a local subprocess) are not
# checked: their run holds the lock.
import sys
from pathlib import Path

from subliminal import lock as results_lock

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
