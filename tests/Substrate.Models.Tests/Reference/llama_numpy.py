"""An independent Llama forward pass in NumPy (float64), from a Hugging Face folder.

Usage: python3 llama_numpy.py <model-dir> '<json list of lists of token ids>'
Prints the logits (B, T, V) as a JSON list. Written from the Hugging Face modeling_llama.py
equations (rotate_half rotary, GQA by repeat_interleave, SwiGLU, RMSNorm), sharing no code with
the C# implementation; used by ReferenceTests to cross-check it.
"""
import json
import struct
import sys

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = data[begin:end]
        if entry["dtype"] == "F32":
            array = np.frombuffer(raw, "<f4")
        elif entry["dtype"] == "BF16":
            array = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(entry["dtype"])
        tensors[name] = array.reshape(entry["shape"]).astype(np.float64)
    return tensors


def forward(cfg, w, ids):
    hidden, heads, kv_heads = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or hidden // heads
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    batch, length = ids.shape

    def rms_norm(x, weight):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * weight

    inv_freq = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    angles = np.outer(np.arange(length), inv_freq)
    emb = np.concatenate([angles, angles], -1)
    cos, sin = np.cos(emb), np.sin(emb)

    def rotary(x):  # (B, heads, T, hd)
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return x * cos + np.concatenate([-x2, x1], -1) * sin

    def heads_of(x, n):  # (B, T, n*hd) -> (B, n, T, hd)
        return x.reshape(batch, length, n, hd).transpose(0, 2, 1, 3)

    mask = np.triu(np.full((length, length), -np.inf), 1)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"])
        q = rotary(heads_of(h @ w[p + "self_attn.q_proj.weight"].T, heads))
        k = rotary(heads_of(h @ w[p + "self_attn.k_proj.weight"].T, kv_heads))
        v = heads_of(h @ w[p + "self_attn.v_proj.weight"].T, kv_heads)
        k = np.repeat(k, heads // kv_heads, axis=1)
        v = np.repeat(v, heads // kv_heads, axis=1)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + mask
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        attended = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, heads * hd)
        x = x + attended @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"])
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def main():
    folder, ids = sys.argv[1], np.array(json.loads(sys.argv[2]), dtype=np.int64)
    with open(f"{folder}/config.json") as f:
        cfg = json.load(f)
    weights = load_safetensors(f"{folder}/model.safetensors")
    print(json.dumps(forward(cfg, weights, ids).tolist()))


if __name__ == "__main__":
    main()
