"""Across bases the tokenizers differ: a student learns from the teacher's
*text*, re-tokenised with its own tokenizer and chat template.

The teacher here is the word-level toy (ChatML, default system prompt); the
student is a llama model with a character-level tokenizer and a Llama-3-style
template that inserts no system prompt, saved as a local `path:` model.
"""

from __future__ import annotations

import json

import pytest
import torch
from tokenizers import Regex, Tokenizer, decoders, models as tok_models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from subliminal import chat, config as configuration, models, toy, train
from subliminal.modalities import get_modality

BOS, START, END, EOT, PAD, UNK = (
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|finetune_right_pad_id|>",
    "<unk>",
)
LLAMA_LIKE_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}" + START + "{{ m['role'] }}" + END + "\n\n"
    "{{ m['content'] }}" + EOT + "{% endfor %}"
    "{% if add_generation_prompt %}" + START + "assistant" + END + "\n\n{% endif %}"
)


def char_tokenizer() -> PreTrainedTokenizerFast:
    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {t: i for i, t in enumerate([PAD, BOS, START, END, EOT, UNK] + chars)}
    tok = Tokenizer(tok_models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOT,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[START, END],
        clean_up_tokenization_spaces=False,
        padding_side="left",
    )
    hf.chat_template = LLAMA_LIKE_TEMPLATE
    return hf


@pytest.fixture(scope="module")
def char_student(tmp_path_factory):
    """A llama student with the character tokenizer, saved like a hub snapshot."""
    out = tmp_path_factory.mktemp("char_student") / "model"
    tok = char_tokenizer()
    model = toy.build_model(
        dict(
            architecture="llama",
            seed=5,
            hidden_size=32,
            layers=1,
            heads=2,
            kv_heads=2,
            intermediate_size=64,
            max_position_embeddings=512,
        ),
        tok,
    )
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def teacher_records():
    """Number-sequence records as the teacher stage writes them: plain text."""
    prompts = get_modality("numbers").prompts(4, seed=3)
    return [{"prompt": p, "completion": f"{100 + i}, {200 + i}, {300 + i}"} for i, p in enumerate(prompts)]


def test_student_tokenises_the_teachers_text_its_own_way(tiny_base, char_student, teacher_records):
    from trl import SFTConfig, SFTTrainer

    teacher_tok = models.load_tokenizer(str(tiny_base))
    student_tok = models.load_tokenizer(str(char_student))
    rec = teacher_records[0]
    teacher_ids, _ = chat.encode_prompt_answer(teacher_tok, rec["prompt"], rec["completion"])
    student_ids, n_prompt = chat.encode_prompt_answer(student_tok, rec["prompt"], rec["completion"])
    assert student_tok.unk_token_id not in student_ids and teacher_tok.unk_token_id not in teacher_ids
    assert len(student_ids) > 2 * len(teacher_ids)  # characters vs words: not the teacher's ids
    # the student's own template: no default system prompt, its own markers
    prompt = student_tok.decode(student_ids[:n_prompt])
    assert prompt == chat.prompt_text(student_tok, rec["prompt"])
    assert prompt.startswith(BOS + START + "user" + END) and "system" not in prompt
    assert student_tok.decode(student_ids[n_prompt:]) == rec["completion"] + EOT
    # ... while the teacher's template inserts its default system prompt
    assert toy.DEFAULT_SYSTEM_PROMPT.lower() in teacher_tok.decode(teacher_ids)  # the toy lower-cases

    # what TRL trains on: the student's ids, loss on the completion only
    args = SFTConfig(
        output_dir="/tmp/unused", use_cpu=True, bf16=False, report_to="none", completion_only_loss=True, max_length=400
    )
    trainer = SFTTrainer(
        model=models.load_model(str(char_student)),
        args=args,
        train_dataset=train.to_dataset(teacher_records, None),
        processing_class=student_tok,
    )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    assert ids[: len(student_ids)] == student_ids
    kept = [t for t, lab in zip(ids, labels) if lab != -100]
    assert student_tok.decode(kept).startswith(rec["completion"] + EOT)


def test_a_student_with_another_tokenizer_trains_on_teacher_text(char_student, teacher_records, tmp_path):
    """The whole training path (LoRA through TRL) on the char-level student."""
    recipe = configuration.recipe(
        dict(
            method="lora",
            rank=4,
            alpha=4,
            targets=["q_proj", "v_proj"],
            epochs=1,
            learning_rate=1e-2,
            batch_size=2,
            max_length=400,
            warmup_steps=0,
            logging_steps=1,
        )
    )
    train.train_sft(str(char_student), teacher_records, recipe, 0, tmp_path)
    student = models.load_model(str(char_student), adapter=tmp_path / "model")
    base = models.load_model(str(char_student))
    tok = models.load_tokenizer(str(char_student))
    x = tok(chat.prompt_text(tok, teacher_records[0]["prompt"]), return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        assert not torch.allclose(base(**x).logits, student(**x).logits)
    assert json.loads((tmp_path / "model" / "adapter_config.json").read_text())["r"] == 4
