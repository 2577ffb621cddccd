using Substrate.Nn;
using Substrate.Nn.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Models;

// The Llama decoder, in reading order: RmsNorm → rotary embeddings → attention → SwiGLU MLP →
// decoder layer → model → causal-LM head. Field names are the Hugging Face state-dict keys.
// Shapes: B batch, T new positions, S attended positions (past + new), H hidden_size,
// nH attention heads, nKv key/value heads, hd head_dim, I intermediate_size, V vocab_size.

/// <summary>
/// RMSNorm: x / sqrt(mean(x²) + eps) · weight, statistics in fp32; the result in <c>outputDtype</c> (the dtype
/// the next block computes in). With <c>offset</c> (Gemma) the scale is 1 + weight, added in fp32, and the weight starts
/// at 0. With <c>fused</c>, a fp32 CPU input goes through <see cref="FusedRmsNorm"/>
/// (forward, backward and the cast in hand-written passes); otherwise, and as the tested reference, libtorch ops.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight; // (H)
    private readonly double eps;
    private readonly ScalarType outputDtype;
    private readonly bool fused, offset;

    public RmsNorm(int size, double eps, ScalarType outputDtype = ScalarType.Float32, bool fused = false, bool offset = false,
        ParameterAllocation? allocation = null) : base(nameof(RmsNorm))
    {
        weight = new Parameter((allocation ?? ParameterAllocation.Initialized).Filled([size], offset ? 0 : 1));
        weight.DetachFromDisposeScope();
        (this.eps, this.outputDtype, this.fused, this.offset) = (eps, outputDtype, fused, offset);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // (…, H) → (…, H) in outputDtype
    {
        if (fused && !offset && FusedRmsNorm.Supports(x, weight, outputDtype)) return FusedRmsNorm.Apply(x, weight, eps, outputDtype);
        using var scope = NewDisposeScope();
        var xf = x.to(ScalarType.Float32);
        var inverseRms = xf.square().mean([-1], keepdim: true).add_(eps).rsqrt_(); // (…, 1)
        var scale = offset ? weight.to(ScalarType.Float32) + 1 : weight;           // (H)
        return (xf * inverseRms * scale).to(outputDtype).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Rotary position embeddings, Hugging Face convention (rotate_half: the two halves of each head
/// are the pairs), with config.json's <c>rope_scaling</c> applied to the inverse frequencies. longrope (Phi-3) has two
/// tables, short and long factors, cos/sin scaled by its attention factor; a forward whose positions reach past
/// <c>longFrom</c> rotates all of them with the long one, as transformers does. Not a module:
/// the cos/sin tables stay out of the state dict and are built per
/// (device, dtype, long) on first use, owned here, outside any dispose scope.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly int headDim;
    private readonly int maxPositions;
    private readonly double theta;
    private readonly RopeScaling? scaling;
    private readonly int? longFrom;            // longrope: positions past this take the long factors
    private readonly double attentionFactor;   // longrope's factor on cos and sin
    private readonly Dictionary<(DeviceType, int, ScalarType, bool), (Tensor Cos, Tensor Sin)> tables = new(); // (covered, 1, hd) each

    public RotaryEmbedding(int headDim, int maxPositions, double theta, RopeScaling? scaling = null, int? longFrom = null, double attentionFactor = 1)
    {
        this.headDim = headDim;
        this.maxPositions = maxPositions;
        this.theta = theta;
        this.scaling = scaling;
        this.longFrom = longFrom;
        this.attentionFactor = attentionFactor;
    }

    /// <summary>cos and signed sin for positions [start, start+length): (length, 1, hd) each,
    /// shaped to broadcast over (B, T, heads, hd).</summary>
    public (Tensor Cos, Tensor Sin) Slice(long start, long length, Device device, ScalarType dtype)
    {
        if (start + length > maxPositions)
            throw new ArgumentOutOfRangeException(nameof(length),
                $"positions [{start}, {start + length}) exceed max_position_embeddings = {maxPositions}");
        var (cos, sin) = Table(device, dtype, start + length > longFrom, start + length);
        return (cos.narrow(0, start, length), sin.narrow(0, start, length));
    }

    /// <summary>cos and signed sin at a position per token (batched decode, packed rows): (B, T, 1, hd) each,
    /// broadcasting over (B, T, heads, hd).</summary>
    public (Tensor Cos, Tensor Sin) Gather(Tensor positions, Device device, ScalarType dtype) // positions (B, T) int64
    {
        var (b, t, flat) = (positions.shape[0], positions.shape[1], positions.reshape(-1));
        var used = flat.numel() == 0 ? 1 : flat.max().item<long>() + 1;
        var (cos, sin) = Table(device, dtype, longFrom is { } from && used > from, used);
        return (cos.index_select(0, flat).view(b, t, 1, headDim), sin.index_select(0, flat).view(b, t, 1, headDim));
    }

    /// <summary>The tables for at least <paramref name="positions"/> positions. They grow by doubling (from 4,096) rather than
    /// cover max_position_embeddings at once: at Llama 3.2's 131,072 positions that would be ~200 MB of fp64 work for a
    /// 512-token prompt, kept by the allocator afterwards.</summary>
    private (Tensor Cos, Tensor Sin) Table(Device device, ScalarType dtype, bool longFactors, long positions)
    {
        var key = (device.type, device.index, dtype, longFactors);
        lock (tables) // one model may serve several threads
        {
            if (tables.TryGetValue(key, out var table) && table.Cos.shape[0] >= positions) return table;
            var covered = Math.Min(maxPositions, Math.Max(positions, Math.Max(4096, 2 * (table.Cos?.shape[0] ?? 0))));
            table.Cos?.Dispose(); // views handed out keep their storage
            table.Sin?.Dispose();
            return tables[key] = Build(device, dtype, longFactors, covered);
        }
    }

    private (Tensor Cos, Tensor Sin) Build(Device device, ScalarType dtype, bool longFactors, long positions)
    {
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            // inv_freq[i] = theta^(-2i/hd); angle[t, i] = t · inv_freq[i]; computed in fp64 then rounded.
            var invFreq = pow(theta, arange(0, headDim, 2, ScalarType.Float64) / headDim).reciprocal(); // (hd/2)
            if (scaling is not null) invFreq = tensor(scaling.Scale(invFreq.data<double>().ToArray(), longFactors), ScalarType.Float64); // (hd/2)
            var angles = outer(arange(positions, ScalarType.Float64), invFreq);                       // (P, hd/2)
            var cos = cat([angles.cos(), angles.cos()], -1) * attentionFactor;                         // (P, hd)
            var sin = cat([-angles.sin(), angles.sin()], -1) * attentionFactor;                        // (P, hd), sign of rotate_half folded in
            return (cos.unsqueeze(1).to(dtype, device).DetachFromDisposeScope(),                      // (P, 1, hd)
                    sin.unsqueeze(1).to(dtype, device).DetachFromDisposeScope());
        }
    }

    /// <summary>x·cos + rotate_half(x)·sin, with rotate_half(x) = [-x₂, x₁]; here [x₂, x₁]·signedSin.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin) // x (B, T, heads, hd), cos/sin (T, 1, hd) or (B, T, 1, hd)
    {
        var half = x.shape[^1] / 2;
        using var swapped = x.roll(half, -1); // (B, T, heads, hd): [x₂, x₁]; one op forward and backward, where a cat of two narrows costs four
        using var rotated = swapped * sin;
        return x * cos + rotated;
    }

    public void Dispose()
    {
        lock (tables)
        {
            foreach (var (cos, sin) in tables.Values) { cos.Dispose(); sin.Dispose(); }
            tables.Clear();
        }
    }
}

/// <summary>The cos/sin tables one forward rotates with, (T, 1, hd) or (B, T, 1, hd) each: the full-attention layers', and
/// the sliding layers' where they have a rotary base of their own (Gemma 3's rope_local_base_freq).</summary>
public sealed record RotaryAngles(Tensor Cos, Tensor Sin, Tensor? LocalCos = null, Tensor? LocalSin = null)
{
    public (Tensor Cos, Tensor Sin) For(bool sliding) => sliding && LocalCos is not null && LocalSin is not null ? (LocalCos, LocalSin) : (Cos, Sin);
}

/// <summary>
/// Grouped-query self-attention with rotary embeddings and an optional KV cache. The config's switches: biases on
/// q/k/v (<see cref="ModelConfig.QkvBias"/>), an RMSNorm over each query and key head before rotary
/// (<see cref="ModelConfig.QkNorm"/>), a sliding window over the keys (<see cref="ModelConfig.WindowOf"/>), the scale on
/// q·k (<see cref="ModelConfig.AttentionScale"/>, applied to the queries where it is not 1/√hd).
/// </summary>
public sealed class LlamaAttention : nn.Module
{
    private readonly nn.Module<Tensor, Tensor>? q_proj; // weight (nH·hd, H), bias (nH·hd) with QkvBias; null with FusedProjections
    private readonly nn.Module<Tensor, Tensor>? k_proj; // weight (nKv·hd, H), bias (nKv·hd) with QkvBias
    private readonly nn.Module<Tensor, Tensor>? v_proj; // weight (nKv·hd, H), bias (nKv·hd) with QkvBias
    private readonly nn.Module<Tensor, Tensor>? qkv_proj; // weight ((nH + 2·nKv)·hd, H): q, k, v rows, with FusedProjections (Phi-3)
    private readonly nn.Module<Tensor, Tensor> o_proj; // weight (H, nH·hd)
    private readonly RmsNorm? q_norm; // weight (hd), with QkNorm
    private readonly RmsNorm? k_norm; // weight (hd), with QkNorm
    private readonly int? window;     // sliding_window: a query sees keys at distance < window
    private readonly double? queryScale; // AttentionScale·√hd, the factor on the queries that makes the 1/√hd kernels scale by it; null when 1
    private readonly int heads, kvHeads, headDim, layerIndex;
    private readonly AttentionImplementation implementation;
    private readonly bool fused;

    public LlamaAttention(ModelConfig config, int layerIndex, ModelOptions options, string path) : base(nameof(LlamaAttention))
    {
        (heads, kvHeads, headDim, this.layerIndex) = (config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim, layerIndex);
        implementation = options.Attention;
        fused = options.FusedKernels;
        var f = options.LinearFactory;
        if (config.FusedProjections) qkv_proj = f.Create($"{path}.qkv_proj", config.HiddenSize, (heads + 2 * kvHeads) * headDim, config.QkvBias);
        else
        {
            q_proj = f.Create($"{path}.q_proj", config.HiddenSize, heads * headDim, config.QkvBias);
            k_proj = f.Create($"{path}.k_proj", config.HiddenSize, kvHeads * headDim, config.QkvBias);
            v_proj = f.Create($"{path}.v_proj", config.HiddenSize, kvHeads * headDim, config.QkvBias);
        }
        o_proj = f.Create($"{path}.o_proj", heads * headDim, config.HiddenSize);
        if (config.QkNorm)
        {
            q_norm = new RmsNorm(headDim, config.RmsNormEps, options.ComputeDtype, offset: config.NormOffset, allocation: options.Allocation);
            k_norm = new RmsNorm(headDim, config.RmsNormEps, options.ComputeDtype, offset: config.NormOffset, allocation: options.Allocation);
        }
        window = config.WindowOf(layerIndex);
        var factor = config.AttentionScale * Math.Sqrt(headDim);
        queryScale = factor == 1 ? null : factor;
        RegisterComponents();
    }

    /// <summary>With <paramref name="mask"/> (B, 1, T, T) bool, packed rows: no cache, attention only where the mask is true.
    /// With <paramref name="rows"/>, batched decode (T = 1): row b at its own position in its own row of <paramref name="cache"/>.</summary>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, KvCache? cache, long start, Tensor? mask = null, KvCacheRows? rows = null) // x (B, T, H)
    {
        using var scope = NewDisposeScope();
        var (b, t) = (x.shape[0], x.shape[1]);
        if (rows is null) mask = Windowed(mask, t, start, x.device); // (1, 1, T, S) or (B, 1, T, S); null where the window cannot bite
        var qkv = StackedProjection(x); // (B, T, (nH + 2·nKv)·hd) while training, else null
        if (qkv is not null && cache is null && q_norm is null && queryScale is null && implementation == AttentionImplementation.Eager
            && FusedRotary.Supports(qkv, cos, headDim))
        {
            // Training: rotary (and the queries' 1/√hd) in one pass over the stacked projection; the values pass through.
            var rotated = FusedRotary.Apply(qkv, cos, sin, headDim, (heads + kvHeads) * headDim, heads * headDim, 1.0 / Math.Sqrt(headDim));
            var (qr, kr, vr) = Split(rotated);
            var scaledQueries = qr.view(b, t, heads, headDim);                // (B, T, nH, hd)
            var keys = kr.view(b, t, kvHeads, headDim).transpose(1, 2);       // (B, nKv, T, hd)
            var values = vr.view(b, t, kvHeads, headDim).transpose(1, 2);     // (B, nKv, T, hd)
            return o_proj.call(Eager(scaledQueries, keys, values, start, mask, queriesScaled: true)).MoveToOuterDisposeScope();
        }
        qkv ??= qkv_proj?.call(x);                                                                // (B, T, (nH + 2·nKv)·hd) stacked or fused
        var (qx, kx, vx) = qkv is null ? (q_proj!.call(x), k_proj!.call(x), v_proj!.call(x)) : Split(qkv); // (B, T, nH·hd), (B, T, nKv·hd) ×2
        var (qh, kh) = (qx.view(b, t, heads, headDim), kx.view(b, t, kvHeads, headDim));         // (B, T, nH, hd), (B, T, nKv, hd)
        if (q_norm is not null && k_norm is not null) (qh, kh) = (q_norm.call(qh), k_norm.call(kh));
        var q = RotaryEmbedding.Apply(qh, cos, sin);                                              // (B, T, nH, hd)
        if (queryScale is { } qs) q = q * qs;
        var k = RotaryEmbedding.Apply(kh, cos, sin).transpose(1, 2);                              // (B, nKv, T, hd)
        var v = vx.view(b, t, kvHeads, headDim).transpose(1, 2);                                  // (B, nKv, T, hd)
        if (rows is not null)                                                                                   // batched decode, a position per row
        {
            var rowCache = cache ?? throw new ArgumentNullException(nameof(cache), "batched decode rows need a KV cache");
            (k, v) = rowCache.UpdateRows(layerIndex, k, v, rows);                                                 // (B, nKv, S, hd)
            return o_proj.call(RowMasked(q, k, v, rows.Positions)).MoveToOuterDisposeScope();
        }
        if (cache is not null) (k, v) = cache.Update(layerIndex, k, v, start);                              // (B, nKv, S, hd)
        var y = implementation == AttentionImplementation.Fused ? Fused(q, k, v, start, mask) : Eager(q, k, v, start, mask); // (B, T, nH·hd)
        return o_proj.call(y).MoveToOuterDisposeScope();                                                        // (B, T, H)
    }

    /// <summary>The stacked projection's q, k, v columns as views (backward is one cat; three narrows would each zero-fill a (B, T, ·) gradient).</summary>
    private (Tensor Q, Tensor K, Tensor V) Split(Tensor qkv)
    {
        var parts = qkv.split([heads * headDim, kvHeads * headDim, kvHeads * headDim], -1);
        return (parts[0], parts[1], parts[2]);
    }

    /// <summary>
    /// (B, T, (nH + 2·nKv)·hd): one product against the stacked q/k/v weights while training with plain projections and
    /// fused kernels (one backward product for the input instead of three and a sum); otherwise null. Not for inference,
    /// where stacking the weights again for every token would cost more than it saves.
    /// </summary>
    private Tensor? StackedProjection(Tensor x)
    {
        if (!(fused && is_grad_enabled() && q_proj is PlainLinear pq && k_proj is PlainLinear pk && v_proj is PlainLinear pv)) return null;
        var bias = pq.Bias is { } bq && pk.Bias is { } bk && pv.Bias is { } bv ? cat([bq.to(x.dtype), bk.to(x.dtype), bv.to(x.dtype)]) : null;
        return F.linear(x, cat([pq.Weight.to(x.dtype), pk.Weight.to(x.dtype), pv.Weight.to(x.dtype)]), bias);
    }

    /// <summary>
    /// The sliding window as a mask: true where query position start+i may see key position j (j ≤ start+i and
    /// start+i − j &lt; window), (1, 1, T, S) with S = start+T, and-ed into a packed-rows <paramref name="mask"/>
    /// (positions within a packed row are consecutive, so row distance is position distance). Unchanged (null: the
    /// plain causal paths) while every query sees all its keys.
    /// </summary>
    private Tensor? Windowed(Tensor? mask, long t, long start, Device device)
    {
        if (window is not { } w || start + t <= w) return mask;
        var s = start + t;
        var allowed = ones(t, s, ScalarType.Bool, device).tril(start).logical_and_(ones(t, s, ScalarType.Bool, device).triu(start - w + 1)); // (T, S)
        var windowMask = allowed.view(1, 1, t, s);
        return mask is null ? windowMask : mask.logical_and(windowMask);
    }

    /// <summary>
    /// The reference: softmax(q kᵀ / √hd + causal mask) v, the softmax in fp32. Grouped-query attention
    /// without copying keys/values: the rep = nH / nKv query heads that share kv head j (heads j·rep … j·rep+rep−1,
    /// as repeat_interleave would pair them) are stacked along the query axis, so one (rep·T × S) product per kv head.
    /// A packed-rows <paramref name="mask"/> (B, 1, T, S) replaces the causal one.
    /// </summary>
    private Tensor Eager(Tensor q, Tensor k, Tensor v, long start, Tensor? mask = null, bool queriesScaled = false) // q (B, T, nH, hd); k, v (B, nKv, S, hd)
    {
        var (b, t, s, rep) = (q.shape[0], q.shape[1], k.shape[2], heads / kvHeads);
        if (t == s && t >= 128 && mask is null)
        {
            // Causal, all positions new: the first half of the queries sees only the first half of the keys,
            // so 3/4 of the score matrix is computed instead of all of it (bench-12m step: −6%; more halves gain nothing).
            var half = t / 2;
            var queries = q.split([half, t - half], 1);                                                  // views; backward is one cat
            var first = Eager(queries[0], k.narrow(2, 0, half), v.narrow(2, 0, half), 0, queriesScaled: queriesScaled); // (B, T/2, nH·hd)
            var second = Eager(queries[1], k, v, half, queriesScaled: queriesScaled);                                   // (B, T − T/2, nH·hd)
            return cat([first, second], 1);                                                           // (B, T, nH·hd)
        }
        var grouped = q.view(b, t, kvHeads, rep, headDim).permute(0, 2, 3, 1, 4).reshape(b, kvHeads, rep * t, headDim); // (B, nKv, rep·T, hd)
        var scores = (queriesScaled ? grouped : grouped * (1.0 / Math.Sqrt(headDim))).matmul(k.transpose(-2, -1));       // (B, nKv, rep·T, S)
        if (mask is null && t > 1 && fused && FusedCausalSoftmax.Supports(scores))
        {
            var probabilities = FusedCausalSoftmax.Apply(scores, t, start); // (B, nKv, rep·T, S) in the compute dtype, 0 above the diagonal
            return Heads(probabilities.matmul(v), b, t);
        }
        if (mask is not null)
        {
            var bias = zeros(b, 1, t, s, scores.dtype, q.device).masked_fill_(mask.logical_not(), double.NegativeInfinity); // (B, 1, T, S)
            scores = scores + bias.repeat(1, 1, rep, 1);                                                                     // (B, 1, rep·T, S)
        }
        else if (t > 1)
        {
            var future = ones(t, s, ScalarType.Bool, q.device).triu(start + 1);                                   // (T, S): key position > query position
            var bias = zeros(t, s, scores.dtype, q.device).masked_fill_(future, double.NegativeInfinity).repeat(rep, 1); // (rep·T, S)
            scores = scores + bias;
        }
        return Heads(scores.softmax(-1, ScalarType.Float32).to(v.dtype).matmul(v), b, t);
    }

    /// <summary>Grouped rows back to one row per position: (B, nKv, rep·T, hd) → (B, T, nH·hd).</summary>
    private Tensor Heads(Tensor grouped, long b, long t) =>
        grouped.view(b, kvHeads, heads / kvHeads, t, headDim).permute(0, 3, 1, 2, 4).reshape(b, t, heads * headDim);

    /// <summary>Batched decode (T = 1): as <see cref="Eager"/>, each row attending its own positions [0, rows[b]] only
    /// (the rest of the slot is another sequence's or nothing).</summary>
    private Tensor RowMasked(Tensor q, Tensor k, Tensor v, Tensor rows) // q (B, 1, nH, hd); k, v (B, nKv, S, hd); rows (B)
    {
        var (b, s, rep) = (q.shape[0], k.shape[2], heads / kvHeads);
        var grouped = q.view(b, kvHeads, rep, headDim);                                                 // (B, nKv, rep, hd)
        var scores = (grouped * (1.0 / Math.Sqrt(headDim))).matmul(k.transpose(-2, -1));               // (B, nKv, rep, S)
        var keyPositions = arange(s, ScalarType.Int64, q.device).view(1, s);                            // (1, S)
        var future = keyPositions > rows.view(b, 1);                                                    // (B, S)
        if (window is { } w) future = future.logical_or(keyPositions <= rows.view(b, 1) - w);            // (B, S): outside the window too
        var bias = zeros(b, s, scores.dtype, q.device).masked_fill_(future, double.NegativeInfinity);   // (B, S)
        scores = scores + bias.view(b, 1, 1, s);
        var y = scores.softmax(-1, ScalarType.Float32).to(v.dtype).matmul(v);                          // (B, nKv, rep, hd)
        return y.reshape(b, 1, heads * headDim);                                                        // (B, 1, nH·hd)
    }

    /// <summary>libtorch's scaled_dot_product_attention over kv heads expanded with repeat_interleave
    /// (it has no GQA argument); its flash kernel runs when no mask is given. A packed-rows <paramref name="mask"/>
    /// (B, 1, T, S) bool is passed as is (true = attend).</summary>
    private Tensor Fused(Tensor q, Tensor k, Tensor v, long start, Tensor? mask = null) // q (B, T, nH, hd); k, v (B, nKv, S, hd)
    {
        var (b, t, s) = (q.shape[0], q.shape[1], k.shape[2]);
        if (kvHeads != heads)
        {
            k = k.repeat_interleave(heads / kvHeads, dim: 1); // (B, nH, S, hd)
            v = v.repeat_interleave(heads / kvHeads, dim: 1); // (B, nH, S, hd)
        }
        var qh = q.transpose(1, 2); // (B, nH, T, hd)
        var y = mask is not null ? F.scaled_dot_product_attention(qh, k, v, mask)          // packed rows
            : t == 1 ? F.scaled_dot_product_attention(qh, k, v)                              // one new query sees all keys
            : start == 0 ? F.scaled_dot_product_attention(qh, k, v, is_casual: true)       // T == S
            : F.scaled_dot_product_attention(qh, k, v, ones(t, s, ScalarType.Bool, q.device).tril(start)); // (T, S): key position ≤ query position
        return y.transpose(1, 2).reshape(b, t, heads * headDim); // (B, T, nH·hd)
    }
}

/// <summary>
/// SwiGLU feed-forward: down(silu(gate(x)) · up(x)); GeGLU with <c>gelu_pytorch_tanh</c> (Gemma): down(gelu_tanh(gate(x)) · up(x));
/// Phi-3's fused gate_up_proj, gate rows first. While training with fused kernels and plain projections on CPU,
/// gate and up run as one product against their stacked weights, (B, T, 2I), and <see cref="FusedSwiGlu"/> gates it
/// (not for inference, where stacking the weights for every token costs more than it saves).
/// </summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor>? gate_proj;    // weight (I, H); null with FusedProjections
    private readonly nn.Module<Tensor, Tensor>? up_proj;      // weight (I, H)
    private readonly nn.Module<Tensor, Tensor>? gate_up_proj; // weight (2I, H): gate rows, then up rows, with FusedProjections (Phi-3)
    private readonly nn.Module<Tensor, Tensor> down_proj; // weight (H, I)
    private readonly bool fused, gelu;

    public LlamaMlp(ModelConfig config, ModelOptions options, string path) : base(nameof(LlamaMlp))
    {
        var f = options.LinearFactory;
        if (config.FusedProjections) gate_up_proj = f.Create($"{path}.gate_up_proj", config.HiddenSize, 2 * config.IntermediateSize);
        else
        {
            gate_proj = f.Create($"{path}.gate_proj", config.HiddenSize, config.IntermediateSize);
            up_proj = f.Create($"{path}.up_proj", config.HiddenSize, config.IntermediateSize);
        }
        down_proj = f.Create($"{path}.down_proj", config.IntermediateSize, config.HiddenSize);
        fused = options.FusedKernels;
        gelu = config.Activation == "gelu_pytorch_tanh";
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // (B, T, H) → (B, T, H), in x's dtype
    {
        using var scope = NewDisposeScope();
        if (gate_up_proj is not null) return down_proj.call(FusedGateUp(gate_up_proj.call(x))).MoveToOuterDisposeScope(); // (B, T, 2I) → (B, T, H)
        if (gelu) // (B, T, I) → (B, T, H)
            return down_proj.call(F.gelu(gate_proj!.call(x), GELU.Approximate.tanh) * up_proj!.call(x)).MoveToOuterDisposeScope();
        var hidden = fused && is_grad_enabled() && gate_proj is PlainLinear gate && up_proj is PlainLinear up && FusedSwiGlu.Supports(x)
            ? FusedSwiGlu.Apply(F.linear(x, cat([gate.Weight.to(x.dtype), up.Weight.to(x.dtype)]))) // (B, T, 2I) → (B, T, I)
            : F.silu(gate_proj!.call(x)) * up_proj!.call(x);                                       // (B, T, I)
        return down_proj.call(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>silu(gate) · up from the fused projection's (B, T, 2I) output, gate in the first half.</summary>
    private Tensor FusedGateUp(Tensor gateUp)
    {
        if (fused && is_grad_enabled() && FusedSwiGlu.Supports(gateUp)) return FusedSwiGlu.Apply(gateUp); // (B, T, I)
        var halves = gateUp.chunk(2, -1);
        return F.silu(halves[0]) * halves[1];
    }
}

/// <summary>
/// Pre-norm decoder layer: x + attn(norm(x)), then h + mlp(norm(h)). With <see cref="ModelConfig.PostNorms"/> (Gemma's
/// sandwich): h = x + post_attention_layernorm(attn(input_layernorm(x))), then
/// h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))). The residual stream is fp32.
/// </summary>
public sealed class LlamaDecoderLayer : nn.Module
{
    private readonly RmsNorm input_layernorm;            // (H)
    private readonly LlamaAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;   // (H): the MLP's input norm, or with PostNorms the attention output's
    private readonly nn.Module<Tensor, Tensor>? mlp;         // LlamaMlp, or SparseMoe where the family names its sparse MLP "mlp" (Qwen MoE)
    private readonly SparseMoe? block_sparse_moe;            // Mixtral's sparse MLP
    private readonly RmsNorm? pre_feedforward_layernorm;  // (H), with PostNorms: the MLP's input norm
    private readonly RmsNorm? post_feedforward_layernorm; // (H), with PostNorms: the MLP output's
    private readonly bool sliding;

    public LlamaDecoderLayer(ModelConfig config, int index, ModelOptions options, RouterRecord? router = null) : base(nameof(LlamaDecoderLayer))
    {
        var path = $"model.layers.{index}";
        RmsNorm Norm(ScalarType output) =>
            new(config.HiddenSize, config.RmsNormEps, output, options.FusedKernels, config.NormOffset, options.Allocation);
        input_layernorm = Norm(options.ComputeDtype);
        self_attn = new LlamaAttention(config, index, options, $"{path}.self_attn");
        post_attention_layernorm = Norm(config.PostNorms ? ScalarType.Float32 : options.ComputeDtype); // post norms feed the fp32 residual
        if (!config.SparseLayer(index)) mlp = new LlamaMlp(config, options, $"{path}.mlp");
        else if (config.Family!.Experts!.Block == "mlp") mlp = new SparseMoe(config, options, $"{path}.mlp", router);
        else block_sparse_moe = new SparseMoe(config, options, $"{path}.{config.Family.Experts.Block}", router);
        if (config.PostNorms)
        {
            pre_feedforward_layernorm = Norm(options.ComputeDtype);
            post_feedforward_layernorm = Norm(ScalarType.Float32);
        }
        sliding = config.SlidingLayer(index);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, RotaryAngles angles, KvCache? cache, long start, Tensor? mask = null, KvCacheRows? rows = null) // (B, T, H) fp32
    {
        using var scope = NewDisposeScope();
        var (cos, sin) = angles.For(sliding);
        var attended = self_attn.forward(input_layernorm.call(x), cos, sin, cache, start, mask, rows); // (B, T, H); the input norms return the compute dtype
        var mlp = this.mlp ?? block_sparse_moe!;
        if (pre_feedforward_layernorm is null || post_feedforward_layernorm is null)
        {
            var h = x + attended;                                  // (B, T, H) fp32
            return (h + mlp.call(post_attention_layernorm.call(h))).MoveToOuterDisposeScope();
        }
        var sandwiched = x + post_attention_layernorm.call(attended); // (B, T, H) fp32
        return (sandwiched + post_feedforward_layernorm.call(mlp.call(pre_feedforward_layernorm.call(sandwiched)))).MoveToOuterDisposeScope();
    }
}

/// <summary>Token embeddings: a (V, H) table looked up by id, N(0, 0.02) init; with <c>scaled</c> (Gemma) the rows are
/// multiplied by √H in the table's dtype, as transformers does.</summary>
public sealed class TokenEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight; // (V, H)
    private readonly bool scaled;

    public TokenEmbedding(int vocabSize, int hiddenSize, double initStd, bool scaled = false, ParameterAllocation? allocation = null)
        : base(nameof(TokenEmbedding))
    {
        weight = new Parameter((allocation ?? ParameterAllocation.Initialized).Normal([vocabSize, hiddenSize], initStd));
        weight.DetachFromDisposeScope();
        this.scaled = scaled;
        RegisterComponents();
    }

    public Parameter Weight => weight;

    public override Tensor forward(Tensor ids) // (B, T) int64 → (B, T, H) fp32 (the residual stream), whatever the table's dtype
    {
        using var scope = NewDisposeScope();
        var rows = weight.index_select(0, ids.reshape(-1)); // (B·T, H)
        if (scaled) rows = rows * tensor(Math.Sqrt(weight.shape[1]), ScalarType.Float32).to(weight.dtype);
        return rows.view(ids.shape[0], ids.shape[1], weight.shape[1]).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }
}

/// <summary>The decoder stack: embeddings, layers, final norm (HF <c>LlamaModel</c>, state-dict prefix <c>model.</c>).</summary>
public sealed class LlamaModel : nn.Module
{
    private readonly TokenEmbedding embed_tokens;
    private readonly ModuleList<LlamaDecoderLayer> layers;
    private readonly RmsNorm norm;
    private readonly RouterRecord? router;
    private readonly bool checkpointing;

    public LlamaModel(ModelConfig config, ModelOptions options, RouterRecord? router = null) : base(nameof(LlamaModel))
    {
        this.router = router;
        // The router's logits are recorded for the auxiliary loss as the forward runs; a recompute in backward would record them twice.
        if (options.GradientCheckpointing && router is not null)
            throw new ArgumentException("gradient checkpointing is not supported for mixture-of-experts models yet; train without it");
        checkpointing = options.GradientCheckpointing;
        embed_tokens = new TokenEmbedding(config.VocabSize, config.HiddenSize, config.InitializerRange, config.ScaledEmbeddings, options.Allocation);
        layers = new ModuleList<LlamaDecoderLayer>();
        for (var i = 0; i < config.NumHiddenLayers; i++) layers.Add(new LlamaDecoderLayer(config, i, options, router));
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, ScalarType.Float32, options.FusedKernels, config.NormOffset, options.Allocation);
        RegisterComponents();
    }

    public TokenEmbedding EmbedTokens => embed_tokens;

    public Tensor forward(Tensor ids, RotaryAngles angles, KvCache? cache, long start, Tensor? mask = null,
        KvCacheRows? rows = null) // (B, T) → (B, T, H) fp32, normed
    {
        using var scope = NewDisposeScope();
        router?.Clear(); // the record holds this forward's router logits only
        var x = embed_tokens.call(ids); // (B, T, H)
        bool checkpointed = checkpointing && is_grad_enabled() && cache is null && rows is null;
        foreach (var layer in layers) x = checkpointed ? Checkpointed(layer, x, angles, start, mask) : layer.forward(x, angles, cache, start, mask, rows);
        return norm.call(x).MoveToOuterDisposeScope();
    }

    /// <summary>One layer under <see cref="ActivationCheckpoint"/>: its recompute runs in backward, after the caller has freed the
    /// rotary tables and mask, so it reads handles of its own.</summary>
    private static Tensor Checkpointed(LlamaDecoderLayer layer, Tensor x, RotaryAngles angles, long start, Tensor? mask)
    {
        var held = new RotaryAngles(angles.Cos.detach(), angles.Sin.detach(), angles.LocalCos?.detach(), angles.LocalSin?.detach());
        var heldMask = mask?.detach();
        Tensor?[] handles = [held.Cos, held.Sin, held.LocalCos, held.LocalSin, heldMask];
        return ActivationCheckpoint.Apply(x, h => layer.forward(h, held, null, start, heldMask), handles.OfType<Tensor>().ToList());
    }
}

/// <summary>
/// Llama with a language-model head: (B, T) token ids → (B, T, V) fp32 logits. State-dict keys are
/// the Hugging Face ones (<c>model.embed_tokens.weight</c>, <c>model.layers.N.…</c>, <c>lm_head.weight</c>);
/// with tied embeddings there is no <c>lm_head</c> and the embedding table is the output projection.
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<Tensor, Tensor>
{
    private readonly LlamaModel model;
    private readonly nn.Module<Tensor, Tensor>? lm_head; // weight (V, H); null when tied
    private readonly RotaryEmbedding rotary;
    private readonly RotaryEmbedding? localRotary; // the sliding layers' (Gemma 3), without rope_scaling
    private readonly ModelOptions options;

    public LlamaForCausalLM(ModelConfig config, ModelOptions? options = null) : base(nameof(LlamaForCausalLM))
    {
        config.Validate();
        options ??= new ModelOptions();
        if (!options.InitializeWeights)
            options = options with
            {
                LinearFactory = options.LinearFactory is PlainLinearFactory ? new PlainLinearFactory(options.Allocation)
                    : throw new NotSupportedException($"uninitialized weights need plain linears, not {options.LinearFactory.GetType().Name}"),
            };
        ModelMemory.EnsureFits(config, options.InitializeWeights ? 4 : options.WeightDtype == ScalarType.Float32 ? 4 : 2);
        Config = config;
        this.options = options;
        if (config.ExpertCount > 0) Router = new RouterRecord();
        model = new LlamaModel(config, this.options, Router);
        if (!config.TieWordEmbeddings)
            lm_head = this.options.LinearFactory.Create("lm_head", config.HiddenSize, config.VocabSize);
        rotary = new RotaryEmbedding(config.HeadDim, config.MaxPositionEmbeddings, config.RopeTheta, config.RopeScaling,
            config.LongRopeFrom, config.RopeAttentionFactor);
        if (config.LocalRopeTheta is { } localTheta) localRotary = new RotaryEmbedding(config.HeadDim, config.MaxPositionEmbeddings, localTheta);
        RegisterComponents();
        if (this.options.WeightDtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentException($"WeightDtype must be Float32, BFloat16 or Float16 (got {this.options.WeightDtype})");
        if (this.options.WeightDtype != ScalarType.Float32 && this.options.InitializeWeights) this.to(this.options.WeightDtype);
        if (this.options.Device.type != DeviceType.CPU) this.to(this.options.Device);
    }

    public ModelConfig Config { get; }

    /// <summary>The sparse layers' router logits of the last forward (mixture of experts); null for a dense model.</summary>
    public RouterRecord? Router { get; }

    /// <summary>
    /// The router's training loss from the last forward with gradients: router_aux_loss_coef · load balancing +
    /// router_z_loss_coef · z-loss; load balancing per sparse layer and averaged (transformers stacks the layers first, which
    /// lets each layer collapse — see <see cref="ExpertRouting.LoadBalancingLoss(IReadOnlyList{Tensor}, int)"/>), the z-loss
    /// over all layers' logits; null for a dense model or when neither coefficient is set. The caller runs its backward.
    /// </summary>
    public Tensor? RouterLoss()
    {
        if (Router is null || Router.Logits.Count == 0) return null;
        var (aux, z) = (Config.RouterAuxLossCoef ?? 0, Config.RouterZLossCoef ?? 0);
        if (aux == 0 && z == 0) return null;
        using var scope = NewDisposeScope();
        var logits = cat(Router.Logits.ToArray(), 0); // (layers·N, E)
        var loss = zeros(1, ScalarType.Float32, logits.device).squeeze();
        if (aux != 0) loss = loss + ExpertRouting.LoadBalancingLoss(Router.Logits, Config.ExpertsPerToken) * aux; // per layer, averaged
        if (z != 0) loss = loss + ExpertRouting.ZLoss(logits) * z;
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>Tokens routed to each expert in the last recorded forward: [sparse layer][expert].</summary>
    public long[][] TokensPerExpert() =>
        Router?.Logits.Select(l => ExpertRouting.TokensPerExpert(l, Config.ExpertsPerToken)).ToArray() ?? [];

    public ModelOptions Options => options;

    /// <summary>The embedding table (<c>model.embed_tokens</c>).</summary>
    public TokenEmbedding EmbedTokens => model.EmbedTokens;

    public override Tensor forward(Tensor inputIds) => forward(inputIds, null, 0);

    /// <summary>
    /// Logits for positions [startPosition, startPosition+T). With a cache, keys/values of these positions
    /// are written into it, attention sees positions [0, startPosition+T), and cache.Length becomes startPosition+T.
    /// </summary>
    public Tensor forward(Tensor inputIds, KvCache? cache, long startPosition) => // (B, T) int64 → (B, T, V) fp32
        Logits(inputIds, cache, startPosition, ScalarType.Float32);

    /// <summary>Logits left in the compute dtype (bf16 under mixed precision), for a loss that reads them as they are:
    /// skips the (B, T, V) fp32 copy and its backward, the largest tensors of a small model's step.</summary>
    public Tensor ComputeDtypeLogits(Tensor inputIds) => Logits(inputIds, null, 0, options.ComputeDtype); // (B, T) → (B, T, V)

    /// <summary>Logits of the last position only, (B, 1, V) fp32, otherwise as <see cref="forward(Tensor, KvCache?, long)"/>: a prompt's
    /// prefill skips the (B, T, V) logits of every position (at T = 512 and a 150k vocabulary, 300 MB it would only drop).</summary>
    public Tensor LastLogits(Tensor inputIds, KvCache? cache, long startPosition) => // (B, T) int64 → (B, 1, V) fp32
        Logits(inputIds, cache, startPosition, ScalarType.Float32, lastOnly: true);

    private Tensor Logits(Tensor inputIds, KvCache? cache, long startPosition, ScalarType logitsDtype, bool lastOnly = false)
    {
        if (inputIds.dim() != 2) throw new ArgumentException($"inputIds must be (B, T); got shape [{string.Join(", ", inputIds.shape)}]");
        var t = inputIds.shape[1];
        if (startPosition + t > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"sequence of {startPosition + t} positions exceeds max_position_embeddings = {Config.MaxPositionEmbeddings}");
        if (cache is null && startPosition != 0)
            throw new ArgumentException("startPosition must be 0 without a KV cache");
        using var scope = NewDisposeScope();
        var hidden = model.forward(inputIds, Angles(startPosition, t, inputIds.device), cache, startPosition); // (B, T, H)
        var logits = Head(lastOnly ? hidden.narrow(1, t - 1, 1) : hidden, logitsDtype);                    // (B, T, V), or (B, 1, V)
        if (cache is not null) cache.Length = startPosition + t;
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Logits of rows that pack several examples (see <see cref="PackedLayout"/>): each example is computed as if it
    /// were alone — rotary positions from <paramref name="packed"/>.Positions, attention within its own example only.
    /// The unpacked forward stays the fast path (a causal kernel without a mask).
    /// </summary>
    public Tensor forward(Tensor inputIds, PackedLayout packed) => // (B, T) int64 → (B, T, V) fp32
        PackedLogits(inputIds, packed, ScalarType.Float32);

    /// <summary>Packed rows' logits left in the compute dtype, for a loss that reads them as they are (see <see cref="ComputeDtypeLogits(Tensor)"/>).</summary>
    public Tensor ComputeDtypeLogits(Tensor inputIds, PackedLayout packed) => PackedLogits(inputIds, packed, options.ComputeDtype); // (B, T) → (B, T, V)

    private Tensor PackedLogits(Tensor inputIds, PackedLayout packed, ScalarType logitsDtype)
    {
        if (inputIds.dim() != 2 || !packed.Positions.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException(
                $"inputIds [{string.Join(", ", inputIds.shape)}] and packed positions [{string.Join(", ", packed.Positions.shape)}] must both be (B, T)");
        if (inputIds.shape[1] > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"sequence of {inputIds.shape[1]} positions exceeds max_position_embeddings = {Config.MaxPositionEmbeddings}");
        using var scope = NewDisposeScope();
        var hidden = model.forward(inputIds, Angles(packed.Positions, inputIds.device), null, 0, packed.Mask); // (B, T, H)
        return Head(hidden, logitsDtype).MoveToOuterDisposeScope(); // (B, T, V)
    }

    /// <summary>The LM head (or the tied embeddings) in the compute dtype: (B, T, H) fp32 → (B, T, V) in logitsDtype.</summary>
    private Tensor Head(Tensor hidden, ScalarType logitsDtype)
    {
        var h = hidden.to(options.ComputeDtype);
        var logits = lm_head is not null ? lm_head.call(h) : F.linear(h, model.EmbedTokens.Weight.to(options.ComputeDtype));
        return logits.to(logitsDtype);
    }

    /// <summary>
    /// Batched decode for continuous batching: one new token per row, row b at its own position
    /// <paramref name="positions"/>[b], keys/values in row b of <paramref name="cache"/> (a slot per sequence).
    /// Each row attends its own positions [0, positions[b]] only. cache.Length is not touched (slots keep their own lengths).
    /// </summary>
    public Tensor forward(Tensor inputIds, KvCache cache, long[] positions) // (B, 1) int64 → (B, 1, V) fp32
    {
        var b = positions.Length;
        if (inputIds.dim() != 2 || inputIds.shape[0] != b || inputIds.shape[1] != 1)
            throw new ArgumentException($"inputIds must be ({b}, 1); got shape [{string.Join(", ", inputIds.shape)}]");
        var span = positions.Max() + 1;
        if (positions.Min() < 0 || span > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"positions must be in [0, {Config.MaxPositionEmbeddings})");
        using var scope = NewDisposeScope();
        var at = tensor(positions, device: inputIds.device);                                   // (B)
        var angles = Angles(at.view(b, 1), inputIds.device); // (B, 1, 1, hd) each
        var rows = new KvCacheRows(at, span);
        return Head(model.forward(inputIds, angles, cache, 0, rows: rows), ScalarType.Float32).MoveToOuterDisposeScope(); // (B, 1, V)
    }

    /// <summary>The final hidden states (after the last norm), without the LM head: (B, T) → (B, T, H) fp32.
    /// For embeddings; with a cache (as <see cref="forward(Tensor, KvCache?, long)"/>), for a prefill whose head runs elsewhere.</summary>
    public Tensor HiddenStates(Tensor inputIds, KvCache? cache = null, long startPosition = 0)
    {
        using var scope = NewDisposeScope();
        var t = inputIds.shape[1];
        var hidden = model.forward(inputIds, Angles(startPosition, t, inputIds.device), cache, startPosition); // (B, T, H)
        if (cache is not null) cache.Length = startPosition + t;
        return hidden.MoveToOuterDisposeScope();
    }

    /// <summary>The rotary tables for positions [start, start+length): (T, 1, hd) each.</summary>
    private RotaryAngles Angles(long start, long length, Device device)
    {
        var (cos, sin) = rotary.Slice(start, length, device, options.ComputeDtype);
        if (localRotary is null) return new RotaryAngles(cos, sin);
        var (localCos, localSin) = localRotary.Slice(start, length, device, options.ComputeDtype);
        return new RotaryAngles(cos, sin, localCos, localSin);
    }

    /// <summary>The rotary tables at a position per token: (B, T, 1, hd) each.</summary>
    private RotaryAngles Angles(Tensor positions, Device device) // positions (B, T) int64
    {
        var (cos, sin) = rotary.Gather(positions, device, options.ComputeDtype);
        if (localRotary is null) return new RotaryAngles(cos, sin);
        var (localCos, localSin) = localRotary.Gather(positions, device, options.ComputeDtype);
        return new RotaryAngles(cos, sin, localCos, localSin);
    }

    /// <summary>A KV cache sized for this model: (batch, nKv, maxLength, hd) per layer, in the compute dtype.</summary>
    public KvCache CreateCache(long batch = 1, long? maxLength = null) =>
        new(Config.NumHiddenLayers, batch, Config.NumKeyValueHeads, maxLength ?? Config.MaxPositionEmbeddings,
            Config.HeadDim, options.ComputeDtype, options.Device);

    /// <summary>Number of parameters; without embeddings, the token-embedding table is left out
    /// (an untied lm_head is still counted: it is compute, not a lookup).</summary>
    public long ParameterCount(bool includeEmbeddings = true)
    {
        var total = parameters().Sum(p => p.numel());
        return includeEmbeddings ? total : total - model.EmbedTokens.Weight.numel();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { rotary.Dispose(); localRotary?.Dispose(); Router?.Dispose(); }
        base.Dispose(disposing);
    }
}
