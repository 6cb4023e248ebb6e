"""Teacher sampling, timed: the workflow's sampler on random prompts."""

from __future__ import annotations

import random
import time


from throughput_model import peak_memory_gib, reset_peak_memory, host_peak_gib, sync


def random_prompts(cfg: dict, n: int, prompt_len: tuple[int, int], rng: random.Random) -> list[list[int]]:
    """Token ids of n prompts of ordinary tokens (no pad, no end of turn)."""
    hi = min(cfg["pad_token_id"], cfg["eos_token_id"])
    return [[rng.randrange(hi) for _ in range(rng.randint(*prompt_len))] for _ in range(n)]


def generated_tokens(rows: list[list[int]], eot: int) -> int:
    """Tokens up to and including the first end of turn of each row."""
    return sum(row.index(eot) + 1 if eot in row else len(row) for row in rows)


def bench_sampling(
    model,
    cfg: dict,
    device: str,
    *,
    batch_size: int,
    batches: int,
    warmup_batches: int,
    prompt_len: tuple[int, int],
    max_new_tokens: int,
    seed: int,
    sort_by_length: bool = False,
) -> dict:
    """Teacher sampling with the workflow's sampler on left-padded prompts."""
    from subliminal import generation

    model.eval()
    rng = random.Random(seed)
    pad, eot = cfg["pad_token_id"], cfg["eos_token_id"]

    def run(n_batches: int) -> tuple[int, int, int]:
        prompts = random_prompts(cfg, batch_size * n_batches, prompt_len, rng)
        stats: dict = {}
        new = generation.sample_ids(
            model,
            prompts,
            eos_token_id=eot,
            pad_token_id=pad,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            seed=seed,
            sort_by_length=sort_by_length,
            stats=stats,
        )
        return sum(map(len, prompts)), generated_tokens(new, eot), sum(stats["decode_steps"])

    if warmup_batches:
        run(warmup_batches)
    reset_peak_memory(device)
    sync(device)
    t0 = time.perf_counter()
    prompt_tokens, generated, steps = run(batches)
    sync(device)
    seconds = time.perf_counter() - t0
    return {
        "batch_size": batch_size,
        "batches": batches,
        "warmup_batches": warmup_batches,
        "max_new_tokens": max_new_tokens,
        "sort_by_length": sort_by_length,
        "prompt_tokens": prompt_tokens,
        "generated_tokens": generated,
        "decode_steps": steps,
        "seconds": seconds,
        "step_seconds": seconds / steps,
        "generated_tokens_per_s": generated / seconds,
        "sequences_per_s": batch_size * batches / seconds,
        "peak_memory_gib": peak_memory_gib(device),
        "host_peak_gib": host_peak_gib(),
    }
