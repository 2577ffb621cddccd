using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// Batch-1 decoding on the CPU without TorchSharp in the per-token loop: the same Llama forward as
/// <see cref="LlamaForCausalLM"/> (RMSNorm → rotary → grouped-query attention → SwiGLU → head, with the family switches:
/// biases, q/k norms, windows and rotary bases per layer, Gemma's scaled embeddings, 1 + w and sandwich norms, GeGLU), one position
/// at a time, written as SIMD dot products over the parameters' native memory and an fp32 KV cache of its own.
/// A token costs ~30 jobs on a <see cref="CpuWorkerPool"/> where libtorch would run ~100 ops of ~40 µs of
/// overhead each. Every matrix-vector product splits its rows into chunks that the workers claim; each row is one
/// worker's dot product in a fixed order, so the logits do not depend on the thread count.
/// Activations stay fp32 whatever the weights' dtype (bf16 weights are widened on the fly).
/// The model must outlive the decoder and keep its parameters in place. Built over a GGUF file's tensors instead (see
/// <see cref="CpuDecoderTensor"/>), ggml block matrices (Q8_0, Q4_K, Q5_0 …) are multiplied as blocks in place, with the activations quantized per block.
/// </summary>
public sealed unsafe partial class CpuDecoder : IDisposable
{
    private readonly LlamaForCausalLM? model; // held: the weight views point into its parameters (null over tensors)
    private readonly IDisposable? owner;      // the tensors' memory (a mapped file), disposed with the decoder
    private readonly CpuDecoderWeights weights;
    private readonly CpuWorkerPool pool;
    private readonly int hidden, heads, kvHeads, headDim, intermediate, vocab, maxLength;
    private readonly int[] windows; // per layer, sliding_window: a query sees the keys of its last `window` positions (int.MaxValue: all)
    private readonly bool[] local;  // per layer: rotates with the sliding layers' own tables (Gemma 3)
    private readonly float eps, scale;
    private readonly float embeddingScale; // √H in the embedding dtype (Gemma), 1 otherwise
    private readonly bool gelu;            // GeGLU (gelu_pytorch_tanh), else SwiGLU
    private readonly List<nint> allocations = [];

    private readonly float* x;        // (H) the residual stream
    private readonly float* qkv;      // (nH·hd + 2·nKv·hd): q heads, then k heads, then v heads
    private readonly float* attended; // (nH·hd) attention output, o_proj's input
    private readonly float* mlp;      // (I) silu(gate) · up, down_proj's input
    private readonly float* branch;   // (H) the attention or MLP output before its post norm (PostNorms)
    private readonly float* keys;     // (S, L, nKv, maxT, hd), rotated: one cache row per slot (S = 1 but for batched serving)
    private readonly float* values;   // (S, L, nKv, maxT, hd)
    private readonly long slotFloats; // L·nKv·maxT·hd: one slot's share of keys (or values)
    private readonly float* cos;      // (maxT, hd/2): cos(t · θ^(−2i/hd)), fp64 rounded to fp32 like RotaryEmbedding
    private readonly float* sin;      // (maxT, hd/2)
    private readonly float* localCos; // (maxT, hd/2): the sliding layers' tables (rope_local_base_freq); = cos without them
    private readonly float* localSin; // (maxT, hd/2)
    private readonly float* longCos;  // (maxT, hd/2): longrope's long-factor tables, taken from position longFrom on; = cos without
    private readonly float* longSin;  // (maxT, hd/2)
    private readonly int longFrom;    // longrope's original context (int.MaxValue: none)
    private readonly Scratch[] scratch; // one per worker

    private readonly Action<int, int> attentionInput, attention, attentionOutput, mlpInput, mlpOutput, head; // (worker, chunk)
    private readonly Action<int> attentionInputPrepare, attentionOutputPrepare, mlpInputPrepare, mlpOutputPrepare, headPrepare, headFromNormedPrepare;
    private int layer;    // the layer the jobs work on
    private WeightMatrix mlpGate, mlpUp, mlpDown; // the MLP the jobs work on: the layer's, or one expert's (mixture of experts)
    private float mlpScale = 1f;                  // the weight its output joins the residual with (an expert's routing weight)
    private float* mlpNormed;                     // the experts' input, norm(x) before the first expert adds to x; null: norm x itself
    private float* logits; // (V) the caller's span, pinned during Step

    /// <summary>Per-worker buffers: a normed copy of x, a bf16-packed (or block-quantized) input, an fp16 row, attention
    /// scores, a chunk's products, two more packed inputs; and Input, Input2, Input3, the vectors the worker's chunks of the
    /// current job multiply (Normed, Packed or a shared activation): one per matrix of the job (q, k, v; gate, up), shared
    /// where the matrices' formats agree — a quantized file may hold attn_v as Q6_K beside a Q4_K attn_q.</summary>
    private readonly record struct Scratch(nint Normed, nint Packed, nint Row, nint Scores, nint Product, nint Packed2, nint Packed3,
        nint Input = 0, nint Input2 = 0, nint Input3 = 0);

    /// <param name="maxLength">Positions the cache holds (default and at most: max_position_embeddings).</param>
    /// <param name="threads">Workers (default: libtorch's thread count, which --threads sets).</param>
    public CpuDecoder(LlamaForCausalLM model, int? maxLength = null, int? threads = null)
        : this(model.Config, new CpuDecoderWeights(model), model, null, maxLength, threads)
    {
    }

    /// <summary>A decoder over weights in memory that <paramref name="owner"/> keeps (a mapped GGUF file), named by their
    /// Hugging Face parameter names; the decoder disposes <paramref name="owner"/>. Prefill runs token by token.</summary>
    /// <param name="interleavedQk">q/k rows in ggml's interleaved rotary pairs (llama-arch GGUF files).</param>
    /// <param name="slots">KV-cache rows for <see cref="Forward"/>'s batched serving; <see cref="Step"/> and
    /// <see cref="Prefill"/> use slot 0.</param>
    public CpuDecoder(ModelConfig config, Func<string, CpuDecoderTensor> tensors, bool interleavedQk, IDisposable? owner,
        int? maxLength = null, int? threads = null, int slots = 1)
        : this(config, new CpuDecoderWeights(config, tensors, interleavedQk), null, owner, maxLength, threads, slots)
    {
    }

    private CpuDecoder(ModelConfig config, CpuDecoderWeights weights, LlamaForCausalLM? model, IDisposable? owner, int? maxLength, int? threads,
        int slots = 1)
    {
        if (slots < 1) throw new ArgumentOutOfRangeException(nameof(slots), $"slots must be ≥ 1 (got {slots})");
        Slots = slots;
        this.model = model;
        this.owner = owner;
        this.weights = weights;
        (hidden, heads, kvHeads, headDim) = (config.HiddenSize, config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim);
        (intermediate, vocab) = (config.IntermediateSize, config.VocabSize);
        this.maxLength = maxLength ?? config.MaxPositionEmbeddings;
        if (this.maxLength < 1 || this.maxLength > config.MaxPositionEmbeddings)
            throw new ArgumentOutOfRangeException(nameof(maxLength), $"maxLength must be in [1, {config.MaxPositionEmbeddings}] (got {maxLength})");
        CheckCacheFits(config, this.maxLength, slots);
        Config = config;
        (eps, scale) = ((float)config.RmsNormEps, (float)config.AttentionScale);
        windows = Enumerable.Range(0, config.NumHiddenLayers).Select(l => config.WindowOf(l) ?? int.MaxValue).ToArray();
        local = Enumerable.Range(0, config.NumHiddenLayers).Select(l => config.LocalRopeTheta is not null && config.SlidingLayer(l)).ToArray();
        embeddingScale = config.ScaledEmbeddings ? CpuKernels.Round((float)Math.Sqrt(hidden), weights.Embedding.Format) : 1f;
        gelu = config.Activation == "gelu_pytorch_tanh";

        x = Allocate(hidden);
        qkv = Allocate((heads + 2 * kvHeads) * headDim);
        attended = Allocate(heads * headDim);
        var mlpWidth = Math.Max(intermediate, weights.Layers.Max(l => l.Experts?.Width ?? 0)); // the widest MLP input, dense or expert
        mlp = Allocate(mlpWidth);
        AllocateRouter(config);
        branch = Allocate(hidden);
        slotFloats = (long)config.NumHiddenLayers * kvHeads * this.maxLength * headDim;
        keys = Allocate(slotFloats * slots);
        values = Allocate(slotFloats * slots);
        var factor = config.RopeAttentionFactor;
        var (c, s) = Tables(RopeScaling.Frequencies(headDim, config.RopeTheta, config.RopeScaling), factor); // (hd/2), as RotaryEmbedding
        var (lc, ls) = config.LocalRopeTheta is { } localTheta ? Tables(RopeScaling.Frequencies(headDim, localTheta, null), 1) : (c, s);
        var (gc, gs) = config.LongRopeFrom is not null ? Tables(RopeScaling.Frequencies(headDim, config.RopeTheta, config.RopeScaling, true), factor) : (c, s);
        longFrom = config.LongRopeFrom ?? int.MaxValue;
        longCos = (float*)gc;
        longSin = (float*)gs;
        cos = (float*)c;
        sin = (float*)s;
        localCos = (float*)lc;
        localSin = (float*)ls;

        pool = new CpuWorkerPool(threads ?? get_num_threads());
        var widest = Math.Max(Math.Max(hidden, heads * headDim), mlpWidth);
        scratch = Enumerable.Range(0, pool.Workers).Select(_ => new Scratch(
            (nint)Allocate(hidden), (nint)Allocate(widest), (nint)Allocate(widest), (nint)Allocate(this.maxLength),
            (nint)Allocate(Math.Max(hidden, mlpWidth)), (nint)Allocate(widest), (nint)Allocate(widest))).ToArray();
        (attentionInput, attention, attentionOutput) = (AttentionInput, Attention, AttentionOutput);
        (mlpInput, mlpOutput, head) = (MlpInput, MlpOutput, Head);
        (attentionInputPrepare, attentionOutputPrepare) = (AttentionInputPrepare, AttentionOutputPrepare);
        (mlpInputPrepare, mlpOutputPrepare, headPrepare, headFromNormedPrepare) = (MlpInputPrepare, MlpOutputPrepare, HeadPrepare, HeadFromNormedPrepare);
    }

    /// <summary>cos and sin of t · frequency[i] for every position t, times <paramref name="factor"/> (longrope's attention
    /// factor), (maxT, hd/2) each, fp64 rounded to fp32.</summary>
    private (nint Cos, nint Sin) Tables(double[] frequencies, double factor)
    {
        float* c = Allocate((long)maxLength * headDim / 2), s = Allocate((long)maxLength * headDim / 2);
        for (var t = 0; t < maxLength; t++)
            for (var i = 0; i < headDim / 2; i++)
            {
                var angle = t * frequencies[i];
                c[t * headDim / 2 + i] = (float)(Math.Cos(angle) * factor);
                s[t * headDim / 2 + i] = (float)(Math.Sin(angle) * factor);
            }
        return ((nint)c, (nint)s);
    }

    /// <summary>Whether <see cref="CpuDecoder"/> can run <paramref name="model"/> (CPU, plain projections, fp32/bf16/fp16),
    /// and if not, why.</summary>
    public static bool Supports(LlamaForCausalLM model, out string? reason) =>
        (reason = CpuDecoderWeights.Unsupported(model)) is null;

    /// <summary>The model whose parameters the decoder reads; null for a decoder over a file's tensors.</summary>
    public LlamaForCausalLM? Model => model;

    public ModelConfig Config { get; }
    public int Threads => pool.Workers;
    public int MaxLength => maxLength;

    /// <summary>KV-cache rows (sequences <see cref="Forward"/> can hold at once).</summary>
    public int Slots { get; }

    /// <summary>Positions in the cache: the position the next token gets.</summary>
    public int Length { get; private set; }

    /// <summary>Forgets every position (a new sequence starts at 0).</summary>
    public void Reset() => Length = 0;

    /// <summary>Runs <paramref name="token"/> at position <see cref="Length"/>, keeps its keys/values, and writes the
    /// next-token logits (V, fp32) into <paramref name="output"/>.</summary>
    public void Step(int token, Span<float> output)
    {
        ObjectDisposedException.ThrowIf(allocations.Count == 0, this); // the buffers are freed
        if (Length >= maxLength)
            throw new InvalidOperationException($"the CPU decoder's context is full: it holds {maxLength} positions");
        if ((uint)token >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(token), $"token id {token} is outside [0, {vocab})");
        if (output.Length < vocab) throw new ArgumentException($"output holds {output.Length} logits; the vocabulary has {vocab}", nameof(output));
        Embed(token, x);
        fixed (float* o = output)
        {
            logits = o;
            for (layer = 0; layer < weights.Layers.Count; layer++)
            {
                var w = weights.Layers[layer];
                pool.Run(heads + 2 * kvHeads, attentionInput, attentionInputPrepare);
                pool.Run(heads, attention);
                pool.Run(Chunks(w.O), attentionOutput, attentionOutputPrepare);
                if (w.PostFeedforwardNorm is not null) AddNormed(w.PostAttentionNorm, x, branch);
                if (w.Experts is { } experts) RunExperts(w, experts);
                else RunMlp(w.Gate, w.Up, w.Down, 1f);
                if (w.PostFeedforwardNorm is { } post) AddNormed(post, x, branch);
            }
            pool.Run(Chunks(weights.Head), head, headPrepare);
            logits = null;
        }
        Length++;
    }

    /// <summary>Runs the prompt through the model, leaving its keys/values in the cache and the logits after its last
    /// token in <paramref name="output"/>. Over a file's tensors the prompt goes through <see cref="Forward"/> in chunks of
    /// <see cref="PrefillChunk"/> tokens (the weights read once per chunk; logits equal token by token's bit for bit). Over
    /// a model, long prompts take one batched TorchSharp forward (matrix-matrix products beat per-token matrix-vector
    /// ones) whose keys/values are copied in; short ones go token by token.</summary>
    public void Prefill(IReadOnlyList<int> prompt, Span<float> output)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty", nameof(prompt));
        if (Length + prompt.Count > maxLength)
            throw new InvalidOperationException($"the CPU decoder's context is full: {Length} + {prompt.Count} positions exceed {maxLength}");
        if (model is null && prompt.Count > 1) // a file's blocks: chunks of the prompt through the batched forward
        {
            PrefillChunks(prompt, output);
            return;
        }
        if (Length > 0 || prompt.Count < BatchedPrefillFrom || model is null)
        {
            foreach (var token in prompt) Step(token, output);
            return;
        }
        CpuDecoderPrefill.Run(model, prompt, keys, values, maxLength, new Span<float>(x, hidden)); // x: normed, the head's input
        fixed (float* o = output)
        {
            logits = o;
            pool.Run(Chunks(weights.Head), head, headFromNormedPrepare);
            logits = null;
        }
        Length = prompt.Count;
    }

    /// <summary>Prompts of at least this many tokens are prefilled by TorchSharp. Below it, token by token costs at most
    /// ~30 ms (bench-12m, ~1 ms a token) and is steady; the batched forward is ~3× faster on long prompts on a quiet
    /// machine, but must wake libtorch's thread team, which on a busy one took 80–950 ms for 16 tokens (15 ms on one thread).</summary>
    public const int BatchedPrefillFrom = 32;

    /// <summary>target (H) = the token's embedding row, × √H in the table's dtype with scaled embeddings (as TokenEmbedding).</summary>
    private void Embed(int token, float* target)
    {
        CpuKernels.Row(weights.Embedding, token, target);
        if (embeddingScale != 1f)
            for (var i = 0; i < hidden; i++) target[i] = CpuKernels.Round(target[i] * embeddingScale, weights.Embedding.Format);
    }

    // ---- The jobs of one layer, in order. A job is chunks of rows (or heads) that the workers claim; a worker's
    // "prepare" computes what all its chunks read (the normed input, packed for bf16) in its own scratch. ----

    /// <summary>q, k, v = norm(x)·Wᵀ (+ bias), a head per chunk; the q/k head norm and rotary on q and k heads; k and v into the
    /// cache at position Length.</summary>
    private void AttentionInput(int worker, int u) // u: q heads [0, nH), k heads [nH, nH+nKv), v heads after
    {
        var w = weights.Layers[layer];
        var s = scratch[worker];
        var (matrix, first) = u < heads ? (w.Q, u) : u < heads + kvHeads ? (w.K, u - heads) : (w.V, u - heads - kvHeads);
        var y = qkv + (long)u * headDim; // (hd)
        var input = u < heads ? s.Input : u < heads + kvHeads ? s.Input2 : s.Input3;
        CpuKernels.MatVec(matrix, first * headDim, (first + 1) * headDim, (float*)input, y, (float*)s.Row);
        FinishHead(u, y, (float*)s.Row, 0, Length);
    }

    /// <summary>Head unit <paramref name="u"/> (as <see cref="AttentionInput"/> numbers them) of a token at
    /// <paramref name="position"/>, just multiplied into y (hd): HF order, bias, q/k norm, rotary; k and v into the cache row
    /// of <paramref name="slot"/>.</summary>
    private void FinishHead(int u, float* y, float* scratchRow, int slot, int position)
    {
        var w = weights.Layers[layer];
        var first = u < heads ? u : u < heads + kvHeads ? u - heads : u - heads - kvHeads;
        if (weights.InterleavedQk && u < heads + kvHeads) Deinterleave(y, scratchRow);
        var (bias, norm) = u < heads ? (w.QBias, w.QNorm) : u < heads + kvHeads ? (w.KBias, w.KNorm) : (w.VBias, null);
        var head = new Span<float>(y, headDim);
        if (bias is not null) TensorPrimitives.Add(head, bias.AsSpan(first * headDim, headDim), head);
        if (norm is not null) CpuKernels.RmsNorm(y, Pin(norm), y, headDim, eps); // in place: the sum of squares is taken first
        if (u < heads + kvHeads) Rotate(y, position);
        if (u >= heads)
        {
            var cache = u < heads + kvHeads ? keys : values;
            new ReadOnlySpan<float>(y, headDim).CopyTo(new Span<float>(cache + CacheOffset(slot, first, position), headDim));
        }
    }

    private void AttentionInputPrepare(int worker)
    {
        var w = weights.Layers[layer];
        PrepareNormed(worker, w.InputNorm, w.Q, w.K, w.V);
    }

    /// <summary>Per query head (a chunk): softmax(q·kᵀ/√hd) over positions [first, Length] — first = 0, or Length + 1 − window
    /// with a sliding window — and the weighted sum of v. Query head h reads kv head h / (nH / nKv), the pairing of
    /// repeat_interleave.</summary>
    private void Attention(int worker, int h) =>
        Attend(h, qkv + (long)h * headDim, attended + (long)h * headDim, (float*)scratch[worker].Scores, 0, Length);

    /// <summary>Query head h (q, hd) of a token at <paramref name="position"/> over the cache row of <paramref name="slot"/>
    /// into y (hd); <paramref name="scores"/> holds up to maxT floats.</summary>
    private void Attend(int h, float* q, float* y, float* scores, int slot, int position)
    {
        var first = Math.Max(0, position + 1 - windows[layer]);
        var positions = position + 1 - first;
        var kv = h / (heads / kvHeads);
        var k = keys + CacheOffset(slot, kv, first);
        for (var t = 0; t < positions; t++) scores[t] = CpuKernels.DotFloat32(k + (long)t * headDim, q, headDim) * scale;
        var p = new Span<float>(scores, positions);
        TensorPrimitives.SoftMax(p, p);
        new Span<float>(y, headDim).Clear();
        var v = values + CacheOffset(slot, kv, first);
        for (var t = 0; t < positions; t++) CpuKernels.AddScaled(v + (long)t * headDim, scores[t], y, headDim);
    }

    /// <summary>x += attended · Woᵀ, a chunk of rows.</summary>
    private void AttentionOutput(int worker, int chunk) => AddProduct(weights.Layers[layer].O, worker, chunk);

    private void AttentionOutputPrepare(int worker) => PrepareInput(worker, weights.Layers[layer].O, attended);

    /// <summary>With post norms: x += norm(branch), the branch (attention or MLP output) summed by the job before (H each).</summary>
    private void AddNormed(float[] norm, float* x, float* branch)
    {
        CpuKernels.RmsNorm(branch, Pin(norm), branch, hidden, eps);
        TensorPrimitives.Add(new ReadOnlySpan<float>(x, hidden), new ReadOnlySpan<float>(branch, hidden), new Span<float>(x, hidden));
        new Span<float>(branch, hidden).Clear();
    }

    /// <summary>x (or the branch) += scale · down(act(norm(x)·Wgateᵀ) · (norm(x)·Wupᵀ)): the two jobs of one MLP.</summary>
    private void RunMlp(in WeightMatrix gate, in WeightMatrix up, in WeightMatrix down, float scale)
    {
        (mlpGate, mlpUp, mlpDown, mlpScale) = (gate, up, down, scale);
        pool.Run(Chunks(gate), mlpInput, mlpInputPrepare);
        pool.Run(Chunks(down), mlpOutput, mlpOutputPrepare);
    }

    /// <summary>mlp = silu(norm(x)·Wgateᵀ) · (norm(x)·Wupᵀ), gate and up in one pass over a chunk of rows.</summary>
    private void MlpInput(int worker, int chunk)
    {
        var s = scratch[worker];
        var (start, end) = Rows(mlpGate, chunk);
        var up = (float*)s.Product; // (rows of the chunk)
        CpuKernels.MatVec(mlpGate, start, end, (float*)s.Input, mlp + start, (float*)s.Row);
        CpuKernels.MatVec(mlpUp, start, end, (float*)s.Input2, up, (float*)s.Row);
        for (var r = start; r < end; r++) mlp[r] = Activation(mlp[r]) * up[r - start];
    }

    private float Activation(float gate) => gelu ? CpuKernels.GeluTanh(gate) : CpuKernels.Silu(gate);

    private void MlpInputPrepare(int worker)
    {
        var w = weights.Layers[layer];
        if (mlpNormed != null) PrepareInput(worker, mlpNormed, mlpGate, mlpUp, mlpUp);
        else PrepareNormed(worker, w.PreFeedforwardNorm ?? w.PostAttentionNorm, mlpGate, mlpUp, mlpUp);
    }

    /// <summary>x += scale · mlp · Wdownᵀ, a chunk of rows.</summary>
    private void MlpOutput(int worker, int chunk) => AddProduct(mlpDown, worker, chunk, mlpScale);

    private void MlpOutputPrepare(int worker) => PrepareInput(worker, mlpDown, mlp);

    /// <summary>logits = norm(x) · Wheadᵀ, a chunk of rows.</summary>
    private void Head(int worker, int chunk)
    {
        var s = scratch[worker];
        var (start, end) = Rows(weights.Head, chunk);
        CpuKernels.MatVec(weights.Head, start, end, (float*)s.Input, logits + start, (float*)s.Row);
    }

    private void HeadPrepare(int worker) => PrepareNormed(worker, weights.FinalNorm, weights.Head, weights.Head, weights.Head);

    private void HeadFromNormedPrepare(int worker) => PrepareInput(worker, weights.Head, x); // after a prefill, x holds norm(x)

    /// <summary>x (or, with post norms, the branch) += a chunk of rows of input · Wᵀ.</summary>
    private void AddProduct(in WeightMatrix w, int worker, int chunk, float scale = 1f)
    {
        var s = scratch[worker];
        var (start, end) = Rows(w, chunk);
        var product = (float*)s.Product; // (rows of the chunk)
        CpuKernels.MatVec(w, start, end, (float*)s.Input, product, (float*)s.Row);
        var target = weights.Layers[layer].PostFeedforwardNorm is null ? x : branch;
        if (scale == 1f) for (var r = start; r < end; r++) target[r] += product[r - start];
        else for (var r = start; r < end; r++) target[r] += scale * product[r - start];
    }

    /// <summary>This worker's inputs for <paramref name="a"/>, <paramref name="b"/>, <paramref name="c"/>: norm(x), packed
    /// for bf16, quantized for block formats.</summary>
    private void PrepareNormed(int worker, float[] norm, in WeightMatrix a, in WeightMatrix b, in WeightMatrix c)
    {
        var normed = (float*)scratch[worker].Normed;
        CpuKernels.RmsNorm(x, Pin(norm), normed, hidden, eps);
        PrepareInput(worker, normed, a, b, c);
    }

    private void PrepareInput(int worker, in WeightMatrix w, float* input) => PrepareInput(worker, input, w, w, w);

    private void PrepareInput(int worker, float* input, in WeightMatrix a, in WeightMatrix b, in WeightMatrix c)
    {
        var s = scratch[worker];
        var first = (nint)CpuKernels.Input(a, input, (float*)s.Packed);
        var second = CpuKernels.SameInput(b.Format, a.Format) ? first : (nint)CpuKernels.Input(b, input, (float*)s.Packed2);
        var third = CpuKernels.SameInput(c.Format, a.Format) ? first
            : CpuKernels.SameInput(c.Format, b.Format) ? second : (nint)CpuKernels.Input(c, input, (float*)s.Packed3);
        scratch[worker] = s with { Input = first, Input2 = second, Input3 = third };
    }

    /// <summary>Chunks of a matrix's rows: multiples of 16 rows (no two workers write one cache line of the output),
    /// about 64 KB of weights each, so claiming a chunk costs little beside reading it. Independent of the thread count.</summary>
    private static int RowsPerChunk(in WeightMatrix w) =>
        (int)Math.Max(16, 65536 / w.RowBytes / 16 * 16);

    private static int Chunks(in WeightMatrix w) => (w.Rows + RowsPerChunk(w) - 1) / RowsPerChunk(w);

    private static (int Start, int End) Rows(in WeightMatrix w, int chunk)
    {
        var rows = RowsPerChunk(w);
        return (chunk * rows, Math.Min(w.Rows, (chunk + 1) * rows));
    }

    /// <summary>HF rotate_half at <paramref name="position"/>: (a, b) → (a·cos − b·sin, b·cos + a·sin) for the halves a, b of a
    /// head, with the layer's tables: the sliding layers' own (Gemma 3), or longrope's long ones once position + 1 passes
    /// longFrom (a step is a forward of one position, as transformers decides per forward; a batched prefill decides per row,
    /// so it equals the steps).</summary>
    private void Rotate(float* y, int position) // (hd)
    {
        var half = headDim / 2;
        var (cosines, sines) = local[layer] ? ((nint)localCos, (nint)localSin)
            : position + 1 > longFrom ? ((nint)longCos, (nint)longSin) : ((nint)cos, (nint)sin);
        float* c = (float*)cosines + (long)position * half, s = (float*)sines + (long)position * half;
        for (var i = 0; i < half; i++)
        {
            var (a, b) = (y[i], y[i + half]);
            y[i] = a * c[i] + b * -s[i];
            y[i + half] = b * c[i] + a * s[i];
        }
    }

    /// <summary>A q/k head computed from ggml's interleaved rows (element 2j+i) back to HF's halves (element i·hd/2 + j).</summary>
    private void Deinterleave(float* y, float* scratchRow) // (hd)
    {
        var half = headDim / 2;
        for (var j = 0; j < half; j++) (scratchRow[j], scratchRow[half + j]) = (y[2 * j], y[2 * j + 1]);
        new ReadOnlySpan<float>(scratchRow, headDim).CopyTo(new Span<float>(y, headDim));
    }

    private long CacheOffset(int kvHead, int position) => (((long)layer * kvHeads + kvHead) * maxLength + position) * headDim;

    private long CacheOffset(int slot, int kvHead, int position) => slot * slotFloats + CacheOffset(kvHead, position);

    private static float* Pin(float[] vector) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(vector)); // a pinned array

    /// <summary>Refuses, before anything is allocated, a KV cache (keys and values: layers × kv heads × positions × head_dim
    /// floats a slot) and batched-forward buffers (a row a slot, see CreateBatch) larger than the memory the process may use;
    /// allocating and clearing them would crash the process.</summary>
    private static void CheckCacheFits(ModelConfig config, int positions, int slots)
    {
        var (h, q, kv, hd, m) = ((double)config.HiddenSize, config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim, config.IntermediateSize);
        var widest = Math.Max(Math.Max(h, q * hd), m);
        var row = 4 * h + (q + 2 * kv) * hd + q * hd + 2 * m + 3 * widest + 8;
        var bytes = sizeof(float) * ((2.0 * config.NumHiddenLayers * kv * hd * positions + row) * slots);
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (bytes > available)
            throw new ArgumentOutOfRangeException(nameof(slots), $"the KV cache of {slots} slots × {positions} positions needs "
                + $"{bytes / (1 << 30):0.#} GiB; this machine has {available / (double)(1 << 30):0.#} GiB: use fewer slots or a shorter context");
    }

    private float* Allocate(long floats)
    {
        var bytes = (nuint)(Math.Max(floats, 1) * sizeof(float));
        var p = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        allocations.Add((nint)p);
        NativeMemory.Clear(p, bytes);
        return p;
    }

    public void Dispose()
    {
        pool.Dispose();
        owner?.Dispose();
        foreach (var p in allocations) NativeMemory.AlignedFree((void*)p);
        allocations.Clear();
    }
}
