#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Independent references for the C++ tests, computed by the tools the field uses: gguf-py
(llama.cpp's own Python package) for the GGUF block formats, and transformers for a GGUF model's
tokens, logits, greedy text and multiple-choice scores. Each mode writes its answers into files
that the C++ test reads and compares with what MoLA Workbench computes itself.

  hf_reference.py quants OUT_DIR
      OUT_DIR/quants.gguf: one tensor of random blocks for every type the reader supports (a
      valid scale where a block has one); OUT_DIR/<TYPE>.npy: its values as gguf-py dequantises.
  hf_reference.py model GGUF --texts T.jsonl --prompts P.json --out OUT_DIR
      For each {"text": ...} line of T.jsonl its token ids (no special tokens) in
      OUT_DIR/text_ids.jsonl; for each prompt of P.json ({"logits": [...], "generate": [...]}) its
      ids and fp32 logits (OUT_DIR/logits-<i>.npy, [tokens, vocab]) and the greedy continuation of
      32 tokens of each "generate" prompt, its ids and its text without special tokens
      (OUT_DIR/generated.json).
  hf_reference.py peft GGUF --adapter PEFT_DIR --merged HF_DIR --prompts P.json --out OUT_DIR
      The logits of every prompt of P.json (["...", ...]) with transformers + PEFT loading the
      adapter directory onto the GGUF model (OUT_DIR/peft-<i>.npy), and with transformers loading
      the merged Hugging Face directory, its tokenizer included (OUT_DIR/merged-<i>.npy; the ids in
      OUT_DIR/merged_ids.json).
  hf_reference.py score GGUF --requests R.jsonl --out OUT.jsonl
      For each {"id", "context", "continuations": [...]} line the summed log-likelihood of every
      continuation after the context (tokens of context + continuation, as lm-evaluation-harness
      does), the prediction by accuracy and by accuracy normalised by the continuation's bytes.
"""

import argparse
import json
import os
import sys

import numpy as np


def quants(out_dir):
    import gguf
    from gguf import GGMLQuantizationType as Q

    rng = np.random.default_rng(7)
    os.makedirs(out_dir, exist_ok=True)
    writer = gguf.GGUFWriter(os.path.join(out_dir, "quants.gguf"), "llama")
    types = [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q4_K, Q.Q5_K, Q.Q6_K]
    for qtype in types:
        block, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        rows, cols = 3, 512  # whole blocks of every type
        if qtype in (Q.F32, Q.F16, Q.BF16):
            values = rng.standard_normal((rows, cols)).astype(np.float32)
            raw = gguf.quants.quantize(values, qtype)
        else:
            raw = rng.integers(0, 256, size=(rows, cols // block * block_bytes), dtype=np.uint8)
            # fp16 scales drawn from a sane range (random bits could be NaN or huge)
            blocks = raw.reshape(rows, cols // block, block_bytes)
            scale_offsets = {Q.Q8_0: [0], Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q4_K: [0, 2],
                             Q.Q5_K: [0, 2], Q.Q6_K: [208]}[qtype]
            for off in scale_offsets:
                scales = rng.uniform(-0.1, 0.1, size=blocks.shape[:2]).astype(np.float16)
                blocks[:, :, off:off + 2] = scales.view(np.uint8).reshape(*blocks.shape[:2], 2)
            raw = blocks.reshape(rows, -1)
        expected = gguf.quants.dequantize(raw, qtype).astype(np.float32)
        assert expected.shape == (rows, cols), (qtype, expected.shape)
        writer.add_tensor(qtype.name, raw, raw_shape=raw.shape, raw_dtype=qtype)
        np.save(os.path.join(out_dir, qtype.name + ".npy"), expected)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def load(gguf_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    return tok, model


def model_mode(args):
    import torch

    tok, model = load(args.gguf)
    os.makedirs(args.out, exist_ok=True)
    with open(args.texts) as f, open(os.path.join(args.out, "text_ids.jsonl"), "w") as out:
        for line in f:
            text = json.loads(line)["text"]
            out.write(json.dumps(tok(text, add_special_tokens=False)["input_ids"]) + "\n")
    with open(args.prompts) as f:
        prompts = json.load(f)
    ids_out = []
    with torch.no_grad():
        for i, prompt in enumerate(prompts["logits"]):
            ids = tok(prompt, add_special_tokens=True)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
            np.save(os.path.join(args.out, f"logits-{i}.npy"), logits)
            ids_out.append(ids)
        generated = []
        for prompt in prompts["generate"]:
            ids = tok(prompt, add_special_tokens=True)["input_ids"]
            # Every prompt token attended to: without the mask, generate takes the prompt's
            # <|im_end|> (the pad id here) for padding.
            x = torch.tensor([ids])
            out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=32,
                                 do_sample=False, eos_token_id=None, pad_token_id=tok.eos_token_id)
            generated.append({"ids": out[0][len(ids):].tolist(),
                              "text": tok.decode(out[0][len(ids):], skip_special_tokens=True)})
    with open(os.path.join(args.out, "prompt_ids.json"), "w") as f:
        json.dump(ids_out, f)
    with open(os.path.join(args.out, "generated.json"), "w") as f:
        json.dump(generated, f)


def peft_mode(args):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok, base = load(args.gguf)
    with open(args.prompts) as f:
        prompts = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    adapted = PeftModel.from_pretrained(base, args.adapter).eval()
    merged_tok = AutoTokenizer.from_pretrained(args.merged)
    merged = AutoModelForCausalLM.from_pretrained(args.merged, dtype=torch.float32).eval()
    merged_ids = []
    with torch.no_grad():
        for i, prompt in enumerate(prompts):
            ids = torch.tensor([tok(prompt, add_special_tokens=True)["input_ids"]])
            np.save(os.path.join(args.out, f"peft-{i}.npy"), adapted(ids).logits[0].numpy())
            mids = merged_tok(prompt, add_special_tokens=True)["input_ids"]
            merged_ids.append(mids)
            np.save(os.path.join(args.out, f"merged-{i}.npy"),
                    merged(torch.tensor([mids])).logits[0].numpy())
    with open(os.path.join(args.out, "merged_ids.json"), "w") as f:
        json.dump(merged_ids, f)


def score_mode(args):
    import torch

    tok, model = load(args.gguf)
    with open(args.requests) as f, open(args.out, "w") as out, torch.no_grad():
        for line in f:
            r = json.loads(line)
            context = tok(r["context"], add_special_tokens=True)["input_ids"]
            sums = []
            for cont in r["continuations"]:
                whole = tok(r["context"] + cont, add_special_tokens=True)["input_ids"]
                # The continuation's tokens: those after the context's (a merge across the
                # boundary moves the cut, as lm-evaluation-harness handles it).
                n = len(whole) - len(context)
                logits = model(torch.tensor([whole])).logits[0].float()
                logp = torch.log_softmax(logits, dim=-1)
                target = torch.tensor(whole[-n:])
                sums.append(float(logp[-n - 1:-1].gather(1, target[:, None]).sum()))
            lengths = [len(c.encode("utf-8")) for c in r["continuations"]]
            out.write(json.dumps({
                "id": r["id"], "loglik": sums,
                "predicted": int(np.argmax(sums)),
                "predicted_norm": int(np.argmax([s / max(1, n) for s, n in zip(sums, lengths)])),
            }) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    q = sub.add_parser("quants")
    q.add_argument("out")
    m = sub.add_parser("model")
    m.add_argument("gguf")
    m.add_argument("--texts", required=True)
    m.add_argument("--prompts", required=True)
    m.add_argument("--out", required=True)
    p = sub.add_parser("peft")
    p.add_argument("gguf")
    p.add_argument("--adapter", required=True)
    p.add_argument("--merged", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--out", required=True)
    s = sub.add_parser("score")
    s.add_argument("gguf")
    s.add_argument("--requests", required=True)
    s.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.mode == "quants":
        quants(args.out)
    elif args.mode == "model":
        model_mode(args)
    elif args.mode == "peft":
        peft_mode(args)
    else:
        score_mode(args)


if __name__ == "__main__":
    sys.exit(main())
