#!/usr/bin/python3
"""Trains Friday's default model: a tiny Llama (RMSNorm, RoPE, GQA attention, SwiGLU) on CPU.

    nice -n 15 /usr/bin/python3 scripts/train/train.py --dir /tmp/friday-default

Reads DIR/train.bin, DIR/val.bin (uint16 token ids from scripts/train/tokenizer.ts) and
DIR/tokenizer.json; writes DIR/weights.bin (f32, little-endian, tensors back to back) and
DIR/weights.json (GGUF tensor names, ggml dims, offsets, hyperparameters, training log) for
scripts/export-gguf.ts. Fixed seed, fixed step count: the same inputs give the same weights.

RoPE is the GGUF "normal" llama layout: adjacent pairs (x[2i], x[2i+1]) rotate by
pos * base^(-2i / head_dim), as in llama2.c, so Q/K need no permutation at export.
"""
import argparse
import copy
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--dir", default="/tmp/friday-default")
p.add_argument("--dim", type=int, default=192)
p.add_argument("--layers", type=int, default=4)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--kv-heads", type=int, default=4)
p.add_argument("--ffn", type=int, default=512)
p.add_argument("--seq", type=int, default=256)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--steps", type=int, default=1600)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--min-lr", type=float, default=1e-4)
p.add_argument("--warmup", type=int, default=50)
p.add_argument("--wd", type=float, default=0.1)
p.add_argument("--rope-base", type=float, default=10000.0)
p.add_argument("--eps", type=float, default=1e-5)
p.add_argument("--seed", type=int, default=1337)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--bf16", type=int, default=1, help="forward/backward in a bf16 copy of the fp32 master weights (oneDNN/AMX matmuls)")
p.add_argument("--eval-every", type=int, default=100)
p.add_argument("--bench", type=int, default=0, help="time this many steps and exit")
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
rng = np.random.default_rng(args.seed)

vocab = len(json.load(open(os.path.join(args.dir, "tokenizer.json")))["tokens"])
train = np.fromfile(os.path.join(args.dir, "train.bin"), dtype="<u2").astype(np.int64)
val = np.fromfile(os.path.join(args.dir, "val.bin"), dtype="<u2").astype(np.int64)
head_dim = args.dim // args.heads
assert head_dim * args.heads == args.dim and args.heads % args.kv_heads == 0


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope_tables(seq, hd, base):
    inv = base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)  # [hd/2]: base^(-2i/hd)
    ang = torch.arange(seq, dtype=torch.float64)[:, None] * inv[None, :]  # [seq, hd/2]
    cos = torch.cos(ang).repeat_interleave(2, dim=-1)
    sin = torch.stack((-torch.sin(ang), torch.sin(ang)), dim=-1).flatten(-2)
    return cos.float(), sin.float()


def rope(x, cos, sin):
    # x: [B, H, T, hd]; pairs (x[2i], x[2i+1]) -> (x0 c - x1 s, x0 s + x1 c). cos/sin: [T, hd] with
    # each angle repeated for both members of its pair, sin signed (-s, +s), so
    # rope(x) = x * cos + swap_pairs(x) * sin.
    T = x.shape[2]
    swapped = x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)
    return x * cos[:T] + swapped * sin[:T]


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        d, kv = args.dim, args.kv_heads * head_dim
        self.attn_norm = RMSNorm(d, args.eps)
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(d, kv, bias=False)
        self.wv = nn.Linear(d, kv, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        self.ffn_norm = RMSNorm(d, args.eps)
        self.w1 = nn.Linear(d, args.ffn, bias=False)  # gate
        self.w3 = nn.Linear(d, args.ffn, bias=False)  # up
        self.w2 = nn.Linear(args.ffn, d, bias=False)  # down

    def forward(self, x, cos, sin, bias):
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, args.heads, head_dim).transpose(1, 2)
        k = self.wk(h).view(B, T, args.kv_heads, head_dim).transpose(1, 2)
        v = self.wv(h).view(B, T, args.kv_heads, head_dim).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = args.heads // args.kv_heads
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        H = args.heads
        # scores = q k^T / sqrt(hd) + causal bias (0 / -inf), in one baddbmm
        att = torch.baddbmm(bias[:T, :T].expand(B * H, T, T), q.reshape(B * H, T, head_dim), k.reshape(B * H, T, head_dim).transpose(1, 2), alpha=1.0 / math.sqrt(head_dim))
        att = att.softmax(-1)
        y = torch.bmm(att, v.reshape(B * H, T, head_dim)).view(B, H, T, head_dim).transpose(1, 2).reshape(B, T, args.dim)
        x = x + self.wo(y)
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(vocab, args.dim)
        self.blocks = nn.ModuleList(Block() for _ in range(args.layers))
        self.norm = RMSNorm(args.dim, args.eps)
        cos, sin = rope_tables(args.seq, head_dim, args.rope_base)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.register_buffer("bias", torch.full((args.seq, args.seq), float("-inf")).triu(1), persistent=False)
        for n, w in self.named_parameters():
            if w.dim() == 2:
                std = 0.02 / math.sqrt(2 * args.layers) if n.endswith(("wo.weight", "w2.weight")) else 0.02
                nn.init.normal_(w, 0.0, std)

    def forward(self, idx):
        x = self.emb(idx)
        for b in self.blocks:
            x = b(x, self.cos, self.sin, self.bias)
        return F.linear(self.norm(x), self.emb.weight)  # tied output


model = Llama()  # fp32 master weights: AdamW state, final eval, export
# Debian's torch has a generic (slow) fp32 BLAS but oneDNN bf16 matmuls: run forward and backward
# in a bf16 working copy, step AdamW on the fp32 master, copy back.
work = copy.deepcopy(model).to(torch.bfloat16) if args.bf16 else model
n_params = sum(w.numel() for w in model.parameters())
decay = [w for w in model.parameters() if w.dim() >= 2]
no_decay = [w for w in model.parameters() if w.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95), eps=1e-8)


def batch(data, n):
    ix = rng.integers(0, len(data) - args.seq - 1, n)
    x = np.stack([data[i : i + args.seq] for i in ix])
    y = np.stack([data[i + 1 : i + 1 + args.seq] for i in ix])
    return torch.from_numpy(x), torch.from_numpy(y)


def loss_of(m, x, y):
    return F.cross_entropy(m(x).float().view(-1, vocab), y.view(-1))


# A fixed validation set: every window of val.bin, in order (periodic evals use the first 32).
val_windows = [(i, i + args.seq) for i in range(0, len(val) - args.seq - 1, args.seq)]
train_windows = [(i, i + args.seq) for i in range(0, len(val_windows) * args.seq, args.seq)]


@torch.no_grad()
def evaluate(data_windows, data, m=None):
    m = m or work
    tot, n = 0.0, 0
    for k in range(0, len(data_windows), 8):
        w = data_windows[k : k + 8]
        x = torch.from_numpy(np.stack([data[a:b] for a, b in w]))
        y = torch.from_numpy(np.stack([data[a + 1 : b + 1] for a, b in w]))
        tot += loss_of(m, x, y).item() * len(w)
        n += len(w)
    return tot / n


def lr_at(step):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * t))


print(f"params {n_params/1e6:.2f}M vocab {vocab} train {len(train)} tok val {len(val)} tok; "
      f"{args.steps} steps x {args.batch} x {args.seq} = {args.steps*args.batch*args.seq/len(train):.1f} epochs", flush=True)
log = []
t0 = time.time()
train_ema = None
steps = args.bench or args.steps
for step in range(steps):
    for g in opt.param_groups:
        g["lr"] = lr_at(step)
    x, y = batch(train, args.batch)
    loss = loss_of(work, x, y)
    work.zero_grad(set_to_none=True)
    loss.backward()
    if work is not model:
        for pm, pw in zip(model.parameters(), work.parameters()):
            pm.grad = pw.grad.float()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if work is not model:
        with torch.no_grad():
            for pm, pw in zip(model.parameters(), work.parameters()):
                pw.copy_(pm)
    train_ema = loss.item() if train_ema is None else 0.95 * train_ema + 0.05 * loss.item()
    if args.bench:
        el = time.time() - t0
        print(f"step {step} loss {loss.item():.3f} {el:.1f}s {(step+1)*args.batch*args.seq/el:.0f} tok/s", flush=True)
        continue
    if step % 50 == 0 or step == steps - 1:
        el = time.time() - t0
        print(f"step {step} loss {loss.item():.4f} ema {train_ema:.4f} lr {lr_at(step):.2e} {el/60:.1f} min {(step+1)*args.batch*args.seq/el:.0f} tok/s", flush=True)
    if (step + 1) % args.eval_every == 0 or step == steps - 1:
        vl = evaluate(val_windows[:32], val)
        log.append({"step": step + 1, "train_loss_ema": round(train_ema, 4), "val_loss": round(vl, 4), "minutes": round((time.time() - t0) / 60, 2)})
        print(f"  eval step {step+1}: val {vl:.4f} train(ema) {train_ema:.4f}", flush=True)
if args.bench:
    raise SystemExit(0)

train_minutes = (time.time() - t0) / 60
# Final losses on fixed sets: all of val, and an equal number of train windows from the start.
# In fp32 with the master weights (what gets exported), slow but once.
final_val = evaluate(val_windows, val, model)
final_train = evaluate(train_windows, train, model)
print(f"done in {train_minutes:.1f} min: train loss {final_train:.4f} val loss {final_val:.4f}", flush=True)

# Export: GGUF names, ggml dims (dims[0] = row length = torch in_features).
tensors, chunks, off = [], [], 0
def put(name, w):
    global off
    a = w.detach().float().contiguous().numpy().astype("<f4")
    dims = list(reversed(a.shape))
    tensors.append({"name": name, "dims": dims, "offset": off})
    chunks.append(a.tobytes())
    off += a.nbytes
put("token_embd.weight", model.emb.weight)
for i, b in enumerate(model.blocks):
    for name, w in [("attn_norm", b.attn_norm.weight), ("attn_q", b.wq.weight), ("attn_k", b.wk.weight), ("attn_v", b.wv.weight),
                    ("attn_output", b.wo.weight), ("ffn_norm", b.ffn_norm.weight), ("ffn_gate", b.w1.weight), ("ffn_up", b.w3.weight),
                    ("ffn_down", b.w2.weight)]:
        put(f"blk.{i}.{name}.weight", w)
put("output_norm.weight", model.norm.weight)
with open(os.path.join(args.dir, "weights.bin"), "wb") as f:
    for c in chunks:
        f.write(c)
meta = {
    "config": {"dim": args.dim, "layers": args.layers, "heads": args.heads, "kv_heads": args.kv_heads, "ffn": args.ffn,
               "context": args.seq, "rope_base": args.rope_base, "eps": args.eps, "vocab": vocab},
    "training": {"params": n_params, "steps": args.steps, "batch": args.batch, "seq": args.seq, "lr": args.lr, "min_lr": args.min_lr,
                 "warmup": args.warmup, "weight_decay": args.wd, "seed": args.seed, "threads": args.threads, "bf16_compute": bool(args.bf16),
                 "train_tokens": int(len(train)), "val_tokens": int(len(val)), "minutes": round(train_minutes, 2),
                 "final_train_loss": round(final_train, 4), "final_val_loss": round(final_val, 4), "torch": torch.__version__, "log": log},
    "tensors": tensors,
}
json.dump(meta, open(os.path.join(args.dir, "weights.json"), "w"), indent=1)
print(f"wrote {args.dir}/weights.bin ({off/1e6:.1f} MB f32) and weights.json", flush=True)
